output "repository_url" {
  description = "Push here: docker push <repository_url>:v2"
  value       = aws_ecr_repository.web.repository_url
}

output "approval_callback_url" {
  description = "The Slack app's Interactivity request URL."
  value       = module.greenlight.approval_callback_url
}

output "state_machine_arn" {
  description = "The deploy state machine (its executions are the deploys)."
  value       = module.greenlight.state_machine_arn
}

output "load_balancer_dns_name" {
  description = "Point domain_name at this."
  value       = module.web.load_balancer_dns_name
}

output "manifest" {
  description = "The deploy manifest greenlight reads (check it: greenlight manifest check)."
  value       = module.greenlight.manifest
}
