variable "name" {
  description = "Name of the service: the ECS service, task family, target groups, CodeDeploy application and Cloud Map service are named after it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,23}$", var.name))
    error_message = "name must start with a lowercase letter and hold at most 24 lowercase letters, digits or hyphens (target group names allow 32 characters with the -blue / -green suffix)."
  }
}

variable "cluster_name" {
  description = "Name of the ECS cluster this module creates (with Container Insights)."
  type        = string
}

variable "container_insights" {
  description = "Container Insights level of the cluster: enhanced or enabled."
  type        = string
  default     = "enhanced"

  validation {
    condition     = contains(["enhanced", "enabled"], var.container_insights)
    error_message = "container_insights must be enhanced or enabled."
  }
}

variable "vpc_id" {
  description = "VPC of the service and its load balancer."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets the tasks run in (no public IPs)."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer."
  type        = list(string)
}

variable "internal_load_balancer" {
  description = "Whether the load balancer is internal (no internet-facing address)."
  type        = bool
  default     = false
}

variable "ingress_cidrs" {
  description = "Addresses allowed to reach the production listener (HTTPS 443, and 80 which redirects)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "test_listener_cidrs" {
  description = "Addresses allowed to reach the test listener (HTTPS on test_listener_port), where green answers before production moves. greenlight's validate function runs outside any VPC and reaches it from AWS's public addresses."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "certificate_arn" {
  description = "ACM certificate of the production and test HTTPS listeners."
  type        = string
}

variable "test_listener_port" {
  description = "Port of the test listener."
  type        = number
  default     = 8080
}

variable "access_logs_bucket" {
  description = "S3 bucket receiving the load balancer's access logs."
  type        = string
}

variable "image" {
  description = "Image of the first revision (later revisions are greenlight's: it pins each pushed digest), e.g. <account>.dkr.ecr.<region>.amazonaws.com/web@sha256:…"
  type        = string
}

variable "repository_arn" {
  description = "ECR repository the tasks pull from: the execution role may read only it."
  type        = string
}

variable "container_name" {
  description = "Name of the application container (the manifest's containers and load_balancer.container)."
  type        = string
  default     = "app"
}

variable "container_port" {
  description = "Port the application listens on."
  type        = number
  default     = 8080
}

variable "cpu" {
  description = "Task CPU units (256, 512, 1024, 2048, 4096…)."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory in MiB, valid for the CPU chosen."
  type        = number
  default     = 512
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "desired_count" {
  description = "Number of tasks when the service is created (later changes belong to autoscaling or to the console: Terraform ignores them)."
  type        = number
  default     = 2
}

variable "environment" {
  description = "Plain environment variables of the container."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Environment variables read from Secrets Manager at task start: name => secret ARN (append :<json-key>:: to pick a JSON key). The execution role may read exactly these."
  type        = map(string)
  default     = {}
}

variable "secrets_kms_key_arns" {
  description = "Customer managed KMS keys of those secrets, if any: the execution role may decrypt with them."
  type        = list(string)
  default     = []
}

variable "health_check_command" {
  description = "Container health check (CMD-SHELL form), e.g. [\"CMD-SHELL\", \"wget -qO- http://localhost:8080/health || exit 1\"]; empty leaves the container without one."
  type        = list(string)
  default     = []
}

variable "health_check_path" {
  description = "Path the target groups' health checks request."
  type        = string
  default     = "/health"
}

variable "health_check_matcher" {
  description = "HTTP codes a healthy target answers with."
  type        = string
  default     = "200-299"
}

variable "deregistration_delay" {
  description = "Seconds a draining target keeps its connections."
  type        = number
  default     = 30
}

variable "stop_timeout" {
  description = "Seconds the container has to exit after SIGTERM before SIGKILL (Fargate allows up to 120)."
  type        = number
  default     = 30
}

variable "log_multiline_pattern" {
  description = "awslogs-multiline-pattern: a line matching it starts a new log event (default: a leading ISO date or log level)."
  type        = string
  default     = "^(\\d{4}-\\d{2}-\\d{2}|\\[?(TRACE|DEBUG|INFO|WARN|ERROR))"
}

variable "log_retention_days" {
  description = "Retention of the container log group, in days."
  type        = number
  default     = 365
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the container log group (its key policy must allow CloudWatch Logs)."
  type        = string
}

variable "task_role_policy_json" {
  description = "IAM policy document of what the application itself may do (empty: nothing)."
  type        = string
  default     = ""
}

variable "approval_required" {
  description = "Whether greenlight asks a human before production traffic moves: the deployment group then stops in Ready (STOP_DEPLOYMENT). Use the same value as the manifest's approval.required."
  type        = bool
  default     = true
}

variable "approval_timeout_seconds" {
  description = "The manifest's approval.timeout_seconds: the deployment group waits in Ready at least this long."
  type        = number
  default     = 3600

  validation {
    condition     = var.approval_timeout_seconds >= 60 && var.approval_timeout_seconds <= 172800
    error_message = "approval_timeout_seconds must be between 60 and 172800 (two days), as in the manifest."
  }
}

variable "deployment_config_name" {
  description = "CodeDeploy traffic shifting: CodeDeployDefault.ECSAllAtOnce, or a canary / linear configuration."
  type        = string
  default     = "CodeDeployDefault.ECSAllAtOnce"
}

variable "blue_termination_wait_minutes" {
  description = "Minutes the old (blue) task set keeps running after a successful deployment, for a fast manual rollback."
  type        = number
  default     = 15
}

variable "hook_function_arns" {
  description = "Lambda functions the AppSpec names as lifecycle hooks (greenlight's validate_function_arn): CodeDeploy may invoke exactly these."
  type        = list(string)
}

variable "namespace_name" {
  description = "Cloud Map private DNS namespace the service registers in (tasks resolve <name>.<namespace>)."
  type        = string
}

variable "alarm_5xx_threshold" {
  description = "Target 5xx responses per minute that stop a deployment and roll it back."
  type        = number
  default     = 10
}

variable "alarm_topic_arns" {
  description = "SNS topics told when an alarm fires (e.g. greenlight's notification topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
