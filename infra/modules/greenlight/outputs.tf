output "state_machine_arn" {
  description = "ARN of the deploy state machine (one execution per service and pushed digest)."
  value       = aws_sfn_state_machine.deploy.arn
}

output "function_arns" {
  description = "ARN of every function, keyed by function name."
  value = merge(
    { for f, fn in aws_lambda_function.function : f => fn.arn },
    { "request-approval" = aws_lambda_function.request_approval.arn },
  )
}

output "validate_function_arn" {
  description = "ARN of the validation hook: CodeDeploy's service role of every deployed service must be allowed to invoke it (ecs-service's hook_function_arns)."
  value       = aws_lambda_function.function["validate"].arn
}

output "approval_callback_url" {
  description = "The approval callback's function URL: the Slack app's Interactivity request URL."
  value       = aws_lambda_function_url.approval_callback.function_url
}

output "ledger_table_name" {
  description = "DynamoDB table holding locks, deployments, approvals and validation reports."
  value       = aws_dynamodb_table.ledger.name
}

output "notification_topic_arn" {
  description = "SNS topic of outcomes, rollbacks and approval links (encrypted with the module's key)."
  value       = aws_sns_topic.notifications.arn
}

output "manifest_parameter_name" {
  description = "SSM parameter holding the rendered deploy manifest."
  value       = aws_ssm_parameter.manifest.name
}

output "manifest" {
  description = "The deploy manifest as rendered (check it with `greenlight manifest check`)."
  value       = local.manifest
}

output "dead_letter_queue_url" {
  description = "SQS queue of push events and hook invocations that failed every retry."
  value       = aws_sqs_queue.dead_letters.url
}

output "kms_key_arn" {
  description = "KMS key encrypting the topic, log groups, link key secret and dead letters."
  value       = aws_kms_key.this.arn
}
