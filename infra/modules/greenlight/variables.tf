variable "name" {
  description = "Prefix of every resource this module creates (functions are named <name>-<function>)."
  type        = string
  default     = "greenlight"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,30}$", var.name))
    error_message = "name must start with a letter and hold at most 31 letters, digits or hyphens (function names add up to 19 characters)."
  }
}

variable "package_dir" {
  description = "Directory holding <function>/bootstrap.zip for every function, as `cargo xtask package` writes them (target/lambda)."
  type        = string
}

variable "architecture" {
  description = "Instruction set the zips were built for: x86_64 (what `cargo xtask package` builds) or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "function_settings" {
  description = "Per-function overrides of memory (MB) and timeout (seconds), keyed by function name (e.g. validate)."
  type = map(object({
    memory_size = optional(number)
    timeout     = optional(number)
  }))
  default = {}

  validation {
    condition = alltrue([for k in keys(var.function_settings) : contains([
      "on-image-push", "prepare", "start-deployment", "deployment-status", "finish", "rollback", "validate", "request-approval", "approval-callback",
    ], k)])
    error_message = "function_settings keys must be function names: on-image-push, prepare, start-deployment, deployment-status, finish, rollback, validate, request-approval, approval-callback."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' and the state machine's log groups, in days."
  type        = number
  default     = 365
}

variable "wait_seconds" {
  description = "Seconds between two looks at a running CodeDeploy deployment (GREENLIGHT_WAIT_SECONDS)."
  type        = number
  default     = 15
}

variable "lease_seconds" {
  description = "How long a service's deploy lock lasts without being renewed (GREENLIGHT_LEASE_SECONDS); a killed execution holds it this long."
  type        = number
  default     = 900

  validation {
    condition     = var.lease_seconds >= 10
    error_message = "lease_seconds must be at least 10."
  }
}

variable "manifest_ttl_seconds" {
  description = "How long a function keeps the manifest it read from SSM before reading it again (GREENLIGHT_MANIFEST_TTL_SECONDS)."
  type        = number
  default     = 60
}

variable "services" {
  description = "The services greenlight deploys, keyed by entry name: rendered into the deploy manifest (the README's manifest table; every default is the manifest's own)."
  type = map(object({
    cluster    = string
    service    = string
    repository = string
    containers = list(string)
    tags = optional(object({
      include = optional(list(string), ["*"])
      exclude = optional(list(string), [])
    }), {})
    codedeploy = object({
      application      = string
      deployment_group = string
    })
    load_balancer = object({
      container = string
      port      = optional(number)
    })
    platform_version = optional(string)
    network_configuration = optional(object({
      subnets          = list(string)
      security_groups  = optional(list(string), [])
      assign_public_ip = optional(bool, false)
    }))
    capacity_provider_strategy = optional(list(object({
      capacity_provider = string
      base              = optional(number, 0)
      weight            = optional(number, 1)
    })), [])
    validation = optional(object({
      enabled           = optional(bool, true)
      test_listener_url = optional(string)
      hooks             = optional(list(string), ["AfterAllowTestTraffic"])
      deadline_seconds  = optional(number, 120)
      checks = optional(list(object({
        name    = string
        method  = optional(string, "GET")
        path    = string
        headers = optional(map(string), {})
        expect = optional(object({
          status        = optional(string, "200-299")
          body_contains = optional(string)
          body_regex    = optional(string)
          # Terraform needs every `equals` of one list to have the same type.
          json = optional(list(object({
            pointer = string
            equals  = any
          })), [])
          max_latency_ms = optional(number)
        }), {})
        consecutive_successes = optional(number, 1)
        interval_ms           = optional(number, 1000)
        timeout_ms            = optional(number, 5000)
      })), [])
    }), {})
    approval = optional(object({
      required           = optional(bool, true)
      timeout_seconds    = optional(number, 3600)
      channels           = optional(list(string), ["slack", "sns"])
      on_timeout         = optional(string, "rollback")
      rollbacks          = optional(bool, false)
      approvers          = optional(list(string), [])
      required_approvals = optional(number, 1)
      slack_channel      = optional(string)
    }), {})
    gates = optional(object({
      scan_findings = optional(map(number))
    }), {})
    concurrency = optional(object({
      policy                = optional(string, "supersede")
      queue_timeout_seconds = optional(number, 1800)
    }), {})
  }))

  validation {
    condition     = alltrue([for name in keys(var.services) : can(regex("^[A-Za-z0-9_-]{1,40}$", name))])
    error_message = "services keys are entry names: letters, digits, - and _, at most 40 characters."
  }
}

variable "pass_role_arns" {
  description = "Task and execution role ARNs of the deployed services: prepare may pass exactly these to ECS when it registers a revision (the ecs-service module outputs both)."
  type        = list(string)

  validation {
    condition     = length(var.pass_role_arns) > 0 && alltrue([for arn in var.pass_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", arn))])
    error_message = "pass_role_arns must list IAM role ARNs (arn:aws:iam::<account>:role/<name>), at least one."
  }
}

variable "slack_webhook_secret_arn" {
  description = "Secrets Manager secret holding the Slack incoming-webhook URL: the approval request and the deploy outcomes of services without approval.slack_channel go there; null leaves those services out of Slack."
  type        = string
  default     = null
}

variable "slack_signing_secret_arn" {
  description = "Secrets Manager secret holding the Slack app's signing secret (verifies button clicks); null refuses Slack callbacks."
  type        = string
  default     = null
}

variable "slack_bot_token_secret_arn" {
  description = "Secrets Manager secret holding the Slack app's bot token (scopes usergroups:read and chat:write): lets a Slack user group listed in approval.approvers admit its members, and posts the request of a service with approval.slack_channel so that greenlight can edit it when the approval is cancelled; null: groups admit nobody and slack_channel cannot be used."
  type        = string
  default     = null
}

variable "approval_email_from" {
  description = "Sender address of the approval emails sent to each email address in approval.approvers (channel \"email\", through Amazon SES): an identity verified in SES, the address itself or its domain; null: no service may use the email channel."
  type        = string
  default     = null
  validation {
    condition     = var.approval_email_from == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.approval_email_from))
    error_message = "approval_email_from must be an email address (approvals@example.com), verified in SES."
  }
}

variable "slack_api_url" {
  description = "Slack's Web API address, for user groups and messages posted with the bot token (GovSlack: https://slack-gov.com/api)."
  type        = string
  default     = "https://slack.com/api"

  validation {
    condition     = can(regex("^https?://", var.slack_api_url))
    error_message = "slack_api_url must be an http(s) URL, e.g. https://slack.com/api."
  }
}

variable "secrets_kms_key_arns" {
  description = "KMS keys the Slack secrets are encrypted with, when not the account's aws/secretsmanager key: the approval functions may decrypt with them."
  type        = list(string)
  default     = []
}

variable "notification_emails" {
  description = "Addresses subscribed to the notification topic (each confirms by email): outcomes, rollbacks and signed approval links."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
