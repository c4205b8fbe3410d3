output "cluster_name" {
  description = "ECS cluster (the manifest's cluster)."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "ECS service (the manifest's service)."
  value       = aws_ecs_service.this.name
}

output "container_name" {
  description = "Application container (the manifest's containers and load_balancer.container)."
  value       = var.container_name
}

output "codedeploy_application" {
  description = "CodeDeploy application (the manifest's codedeploy.application)."
  value       = aws_codedeploy_app.this.name
}

output "codedeploy_deployment_group" {
  description = "CodeDeploy deployment group (the manifest's codedeploy.deployment_group)."
  value       = aws_codedeploy_deployment_group.this.deployment_group_name
}

output "pass_role_arns" {
  description = "Execution and task role ARNs: greenlight's pass_role_arns."
  value       = [aws_iam_role.execution.arn, aws_iam_role.task.arn]
}

output "load_balancer_arn" {
  description = "Application load balancer (associate a WAF web ACL here)."
  value       = aws_lb.this.arn
}

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer (point the service's domain at it)."
  value       = aws_lb.this.dns_name
}

output "test_listener_url" {
  description = "Base URL of the test listener, for the manifest's validation.test_listener_url (use a name on the certificate instead of the load balancer's DNS name)."
  value       = "https://${aws_lb.this.dns_name}:${var.test_listener_port}"
}

output "service_discovery_name" {
  description = "Name other tasks in the VPC resolve the service by."
  value       = "${aws_service_discovery_service.this.name}.${aws_service_discovery_private_dns_namespace.this.name}"
}

output "log_group_name" {
  description = "The container log group (Container Insights' queries and the README's)."
  value       = aws_cloudwatch_log_group.this.name
}
