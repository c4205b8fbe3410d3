data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region

  # ARNs built from names, so the functions and the state machine can name each other without a
  # dependency cycle.
  function_name      = { for f in keys(local.functions) : f => "${var.name}-${f}" }
  function_arn       = { for f, n in local.function_name : f => "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${n}" }
  state_machine_name = "${var.name}-deploy"
  state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${local.state_machine_name}"

  # SES identities (arn:<partition>:ses:<region>:<account>:identity/<name>) that may send the
  # approval emails: the sender address and its domain.
  approval_email_identity_arns = var.approval_email_from == null ? [] : [
    for identity in [var.approval_email_from, split("@", var.approval_email_from)[1]] :
    "arn:${local.partition}:ses:${local.region}:${local.account}:identity/${identity}"
  ]

  manifest = jsonencode({
    version  = 1
    services = [for name, s in var.services : merge(s, { name = name })]
  })

  repositories = distinct([for s in var.services : s.repository])
  repository_arns = [
    for r in local.repositories : "arn:${local.partition}:ecr:${local.region}:${local.account}:repository/${r}"
  ]
  ecs_service_arns = [
    for s in var.services : "arn:${local.partition}:ecs:${local.region}:${local.account}:service/${element(split("/", s.cluster), length(split("/", s.cluster)) - 1)}/${s.service}"
  ]
  deployment_group_arns = [
    for s in var.services : "arn:${local.partition}:codedeploy:${local.region}:${local.account}:deploymentgroup:${s.codedeploy.application}/${s.codedeploy.deployment_group}"
  ]
  codedeploy_application_arns = distinct([
    for s in var.services : "arn:${local.partition}:codedeploy:${local.region}:${local.account}:application:${s.codedeploy.application}"
  ])
  deployment_config_arn = "arn:${local.partition}:codedeploy:${local.region}:${local.account}:deploymentconfig:*"
  slack_secret_arns     = compact([var.slack_webhook_secret_arn, var.slack_signing_secret_arn])

  common_environment = {
    GREENLIGHT_LEDGER_TABLE = aws_dynamodb_table.ledger.name
  }
  manifest_environment = {
    GREENLIGHT_MANIFEST_PARAMETER   = aws_ssm_parameter.manifest.name
    GREENLIGHT_MANIFEST_TTL_SECONDS = tostring(var.manifest_ttl_seconds)
  }
  lease_environment = {
    GREENLIGHT_LEASE_SECONDS = tostring(var.lease_seconds)
  }

  # One entry per crate under functions/: memory (MB), timeout (s), environment. The environment
  # is exactly what the function's code reads (tests/infra.rs checks both ways).
  functions = {
    "on-image-push" = {
      description = "Starts one deploy execution per service an ECR push deploys"
      memory_size = 128
      timeout     = 30
      environment = merge(local.common_environment, local.manifest_environment, {
        GREENLIGHT_STATE_MACHINE_ARN = local.state_machine_arn
        GREENLIGHT_WAIT_SECONDS      = tostring(var.wait_seconds)
        GREENLIGHT_TOPIC_ARN         = aws_sns_topic.notifications.arn
      })
    }
    "prepare" = {
      description = "Takes the service's lock and registers the task definition revision pinned by digest"
      memory_size = 128
      timeout     = 60
      environment = merge(local.common_environment, local.manifest_environment, local.lease_environment)
    }
    "start-deployment" = {
      description = "Starts the CodeDeploy blue/green deployment with greenlight's AppSpec"
      memory_size = 128
      timeout     = 30
      environment = merge(local.common_environment, local.manifest_environment, local.lease_environment, {
        GREENLIGHT_VALIDATE_FUNCTION = local.function_name["validate"]
      })
    }
    "deployment-status" = {
      description = "Watches the deployment until the next step is due; renews the service's lock"
      memory_size = 128
      # One invocation watches a deployment for up to GREENLIGHT_WATCH_SECONDS (a look every
      # wait_seconds), instead of a Wait state and three state transitions per look.
      timeout = 900
      environment = merge(local.common_environment, local.lease_environment, {
        GREENLIGHT_WATCH_SECONDS = "840"
      })
    }
    "finish" = {
      description = "Lets an approved deployment move production traffic; records and announces success"
      memory_size = 128
      timeout     = 30
      environment = merge(local.common_environment, local.lease_environment, local.slack_api_environment, {
        GREENLIGHT_TOPIC_ARN = aws_sns_topic.notifications.arn
      })
    }
    "rollback" = {
      description = "Stops the deployment with auto-rollback, releases the lock, tells someone"
      memory_size = 128
      timeout     = 60
      environment = merge(local.common_environment, local.slack_api_environment, {
        GREENLIGHT_TOPIC_ARN = aws_sns_topic.notifications.arn
      })
    }
    "validate" = {
      description = "CodeDeploy hook: checks green through the test listener and always reports"
      memory_size = 256
      # The longest validation deadline the manifest allows is 840 s; the function reports
      # before its own deadline, so it needs a little more.
      timeout     = 900
      environment = merge(local.common_environment, local.manifest_environment, local.lease_environment)
    }
    "request-approval" = {
      description = "Asks a human in Slack or by signed links before production traffic moves"
      memory_size = 128
      timeout     = 30
      environment = merge(local.common_environment, local.manifest_environment, local.lease_environment, local.slack_api_environment, {
        GREENLIGHT_TOPIC_ARN       = aws_sns_topic.notifications.arn
        GREENLIGHT_LINK_KEY_SECRET = aws_secretsmanager_secret.link_key.arn
        GREENLIGHT_EMAIL_FROM      = var.approval_email_from == null ? "" : var.approval_email_from
      })
    }
    "approval-callback" = {
      description = "Function URL: verifies a Slack click or a signed link and resumes the execution"
      memory_size = 128
      timeout     = 30
      # The manifest, the state machine, the topic and wait_seconds: the "Roll back" button of
      # a success message rolls back as `greenlight rollback` does.
      environment = merge(local.common_environment, local.manifest_environment, local.slack_api_environment, {
        GREENLIGHT_SLACK_SIGNING_SECRET = var.slack_signing_secret_arn == null ? "" : var.slack_signing_secret_arn
        GREENLIGHT_LINK_KEY_SECRET      = aws_secretsmanager_secret.link_key.arn
        GREENLIGHT_STATE_MACHINE_ARN    = local.state_machine_arn
        GREENLIGHT_TOPIC_ARN            = aws_sns_topic.notifications.arn
        GREENLIGHT_WAIT_SECONDS         = tostring(var.wait_seconds)
      })
    }
  }

  # Slack: the Web API with the bot token (user groups and the "Roll back" button's thread reply
  # in approval-callback; the request posted to approval.slack_channel by request-approval,
  # edited when a rollback cancels it and answered in its thread with the outcome by rollback
  # and finish) and the incoming webhook (the request, and the outcome, for services without
  # approval.slack_channel).
  slack_api_environment = {
    GREENLIGHT_SLACK_BOT_TOKEN_SECRET = var.slack_bot_token_secret_arn == null ? "" : var.slack_bot_token_secret_arn
    GREENLIGHT_SLACK_WEBHOOK_SECRET   = var.slack_webhook_secret_arn == null ? "" : var.slack_webhook_secret_arn
    GREENLIGHT_SLACK_API_URL          = var.slack_api_url
  }

  # request-approval needs the callback function's URL, which exists only once that function
  # does: it is its own resource, the others share one.
  shared_functions = { for f, s in local.functions : f => s if f != "request-approval" }

  # Functions invoked asynchronously (EventBridge, CodeDeploy): a failed invocation lands in
  # the dead-letter queue.
  asynchronous = ["on-image-push", "validate"]

  # Statements several functions have alike.
  shared_statements = {
    manifest = {
      sid       = "Manifest"
      actions   = ["ssm:GetParameter"]
      resources = [aws_ssm_parameter.manifest.arn]
    }
    dead_letters = {
      sid       = "DeadLetters"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.dead_letters.arn]
    }
    encrypted_dead_letters = {
      sid       = "EncryptedDeadLetters"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [aws_kms_key.this.arn]
    }
    notify = {
      sid       = "Notify"
      actions   = ["sns:Publish"]
      resources = [aws_sns_topic.notifications.arn]
    }
    encrypted_topic = {
      sid       = "EncryptedTopic"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [aws_kms_key.this.arn]
    }
    encrypted_topic_and_secrets = {
      sid       = "EncryptedTopicAndSecrets"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = concat([aws_kms_key.this.arn], var.secrets_kms_key_arns)
    }
  }

  # Each function's role: exactly the calls its code makes (`aws-calls` in its Cargo.toml) and
  # what AWS checks on its behalf (`implied-actions`), on the resources it needs; one policy
  # document per function is built from these (tests/infra.rs holds them against the lists).
  policy_statements = {
    "on-image-push" = [
      {
        sid       = "Ledger"
        actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
        resources = [aws_dynamodb_table.ledger.arn]
      },
      {
        sid       = "PushTime"
        actions   = ["ecr:DescribeImages"]
        resources = local.repository_arns
      },
      local.shared_statements.manifest,
      {
        sid       = "StartDeploy"
        actions   = ["states:StartExecution"]
        resources = [local.state_machine_arn]
      },
      local.shared_statements.notify,
      local.shared_statements.encrypted_topic,
      local.shared_statements.dead_letters,
      local.shared_statements.encrypted_dead_letters,
    ]
    "prepare" = [
      {
        sid       = "Ledger"
        actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        resources = [aws_dynamodb_table.ledger.arn]
      },
      local.shared_statements.manifest,
      {
        sid       = "LiveService"
        actions   = ["ecs:DescribeServices"]
        resources = local.ecs_service_arns
      },
      {
        unscoped  = "DescribeTaskDefinition, ListTaskDefinitions and RegisterTaskDefinition accept no resource ARN; iam:PassRole below limits which roles a revision can carry."
        sid       = "TaskDefinitions"
        actions   = ["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions", "ecs:RegisterTaskDefinition", "ecs:TagResource"]
        resources = ["*"]
      },
      {
        sid        = "PassServiceRoles"
        actions    = ["iam:PassRole"]
        resources  = var.pass_role_arns
        conditions = [{ test = "StringEquals", variable = "iam:PassedToService", values = ["ecs-tasks.amazonaws.com"] }]
      },
      {
        sid       = "DeploymentGroups"
        actions   = ["codedeploy:GetDeployment", "codedeploy:GetDeploymentGroup", "codedeploy:StopDeployment"]
        resources = local.deployment_group_arns
      },
      {
        unscoped  = "SendTaskFailure takes a task token, not a resource ARN."
        sid       = "CancelSupersededApprovals"
        actions   = ["states:SendTaskFailure"]
        resources = ["*"]
      },
    ]
    "start-deployment" = [
      {
        sid       = "Ledger"
        actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        resources = [aws_dynamodb_table.ledger.arn]
      },
      local.shared_statements.manifest,
      {
        sid       = "Deployments"
        actions   = ["codedeploy:CreateDeployment", "codedeploy:StopDeployment"]
        resources = local.deployment_group_arns
      },
      {
        sid       = "AppSpecRevision"
        actions   = ["codedeploy:GetApplicationRevision", "codedeploy:RegisterApplicationRevision"]
        resources = local.codedeploy_application_arns
      },
      {
        sid       = "DeploymentConfig"
        actions   = ["codedeploy:GetDeploymentConfig"]
        resources = [local.deployment_config_arn]
      },
    ]
    "deployment-status" = [
      {
        sid       = "Ledger"
        actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        resources = [aws_dynamodb_table.ledger.arn]
      },
      {
        sid       = "Deployments"
        actions   = ["codedeploy:GetDeployment"]
        resources = local.deployment_group_arns
      },
    ]
    "finish" = [
      {
        sid       = "Ledger"
        actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"]
        resources = [aws_dynamodb_table.ledger.arn]
      },
      {
        sid       = "Deployments"
        actions   = ["codedeploy:ContinueDeployment"]
        resources = local.deployment_group_arns
      },
      {
        # Left out of the policy when Slack is not configured (no resource, nothing to grant).
        sid       = "SlackSecrets"
        actions   = ["secretsmanager:GetSecretValue"]
        resources = compact([var.slack_bot_token_secret_arn, var.slack_webhook_secret_arn])
      },
      local.shared_statements.notify,
      local.shared_statements.encrypted_topic_and_secrets,
    ]
    "rollback" = [
      {
        sid       = "Ledger"
        actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"]
        resources = [aws_dynamodb_table.ledger.arn]
      },
      {
        sid       = "Deployments"
        actions   = ["codedeploy:GetDeployment", "codedeploy:GetDeploymentGroup", "codedeploy:ListDeployments", "codedeploy:StopDeployment"]
        resources = local.deployment_group_arns
      },
      # What production serves once the deployment ended: the listener and the task sets.
      {
        sid       = "LiveService"
        actions   = ["ecs:DescribeServices"]
        resources = local.ecs_service_arns
      },
      {
        unscoped  = "DescribeTaskDefinition and DescribeListeners accept no resource ARN."
        sid       = "ProductionTraffic"
        actions   = ["ecs:DescribeTaskDefinition", "elasticloadbalancing:DescribeListeners"]
        resources = ["*"]
      },
      {
        # Left out of the policy when Slack is not configured (no resource, nothing to grant).
        sid       = "SlackSecrets"
        actions   = ["secretsmanager:GetSecretValue"]
        resources = compact([var.slack_bot_token_secret_arn, var.slack_webhook_secret_arn])
      },
      local.shared_statements.notify,
      local.shared_statements.encrypted_topic_and_secrets,
    ]
    "validate" = [
      {
        sid       = "Ledger"
        actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
        resources = [aws_dynamodb_table.ledger.arn]
      },
      local.shared_statements.manifest,
      {
        sid       = "Hook"
        actions   = ["codedeploy:GetDeployment", "codedeploy:PutLifecycleEventHookExecutionStatus"]
        resources = local.deployment_group_arns
      },
      {
        sid       = "ImageTag"
        actions   = ["ecr:DescribeImages"]
        resources = local.repository_arns
      },
      {
        unscoped  = "DescribeTaskDefinition accepts no resource ARN."
        sid       = "TaskDefinitions"
        actions   = ["ecs:DescribeTaskDefinition"]
        resources = ["*"]
      },
      local.shared_statements.dead_letters,
      local.shared_statements.encrypted_dead_letters,
    ]
    "request-approval" = [
      {
        sid       = "Ledger"
        actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
        resources = [aws_dynamodb_table.ledger.arn]
      },
      local.shared_statements.manifest,
      {
        unscoped  = "DescribeTaskDefinition accepts no resource ARN."
        sid       = "Evidence"
        actions   = ["ecs:DescribeTaskDefinition"]
        resources = ["*"]
      },
      {
        sid       = "Secrets"
        actions   = ["secretsmanager:GetSecretValue"]
        resources = concat([aws_secretsmanager_secret.link_key.arn], compact([var.slack_webhook_secret_arn, var.slack_bot_token_secret_arn]))
      },
      {
        # SES authorizes SendEmail on the sender's identity: the address, or its domain when the
        # domain is what was verified. Left out when no sender is configured.
        sid       = "ApprovalEmails"
        actions   = ["ses:SendEmail"]
        resources = local.approval_email_identity_arns
      },
      local.shared_statements.notify,
      local.shared_statements.encrypted_topic_and_secrets,
    ]
    "approval-callback" = [
      {
        # Approvals; and the ledger and lock of a "Roll back" click (begin's records).
        sid       = "Approvals"
        actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
        resources = [aws_dynamodb_table.ledger.arn]
      },
      {
        sid       = "Secrets"
        actions   = ["secretsmanager:GetSecretValue"]
        resources = concat([aws_secretsmanager_secret.link_key.arn], compact([var.slack_signing_secret_arn, var.slack_bot_token_secret_arn, var.slack_webhook_secret_arn]))
      },
      {
        unscoped  = "SendTaskSuccess takes a task token, not a resource ARN."
        sid       = "Resume"
        actions   = ["states:SendTaskSuccess"]
        resources = ["*"]
      },
      # "Roll back": what the service runs, the known-good revision and its image, a deploy in
      # flight stopped, the rollback's execution started and announced.
      local.shared_statements.manifest,
      {
        sid       = "LiveService"
        actions   = ["ecs:DescribeServices"]
        resources = local.ecs_service_arns
      },
      {
        unscoped  = "DescribeTaskDefinition accepts no resource ARN."
        sid       = "TaskDefinitions"
        actions   = ["ecs:DescribeTaskDefinition"]
        resources = ["*"]
      },
      {
        sid       = "Images"
        actions   = ["ecr:DescribeImages"]
        resources = local.repository_arns
      },
      {
        sid       = "StopInFlight"
        actions   = ["codedeploy:StopDeployment"]
        resources = local.deployment_group_arns
      },
      {
        sid       = "StartRollback"
        actions   = ["states:StartExecution"]
        resources = [local.state_machine_arn]
      },
      local.shared_statements.notify,
      local.shared_statements.encrypted_topic_and_secrets,
    ]
  }
}

################################################################################
# Encryption key: notifications, logs, secrets, dead letters
################################################################################

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:In a key policy, Resource "*" is this key; the account statement is AWS's default, delegating use of the key to IAM policies.
  #checkov:skip=CKV_AWS_356:In a key policy, Resource "*" is this key.
  #checkov:skip=CKV_AWS_109:In a key policy, Resource "*" is this key; the account statement is AWS's default, delegating use of the key to IAM policies.
  statement {
    sid       = "AccountAdministersAndDelegatesToIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsTheLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:*"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTheTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }

  statement {
    sid       = "EventsDeliverToTheEncryptedQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_kms_key" "this" {
  description         = "${var.name}: notifications, logs, secrets and dead letters"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.key.json
  tags                = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

################################################################################
# Ledger: locks, deployments, approvals, validation reports
################################################################################

resource "aws_dynamodb_table" "ledger" {
  #checkov:skip=CKV_AWS_119:The ledger holds no secrets; the AWS managed key spares every function a KMS grant on each lock write.
  name         = "${var.name}-ledger"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  # Approvals, validation reports and deployment records carry expires_at; the lock does not.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = true
  tags                        = var.tags
}

################################################################################
# Manifest, notifications, approval link key, dead letters
################################################################################

resource "aws_ssm_parameter" "manifest" {
  #checkov:skip=CKV2_AWS_34:The manifest names services, tags and checks, never secrets (those stay in Secrets Manager); a String parameter spares every function a KMS decrypt.
  name        = "/${var.name}/manifest"
  description = "greenlight's deploy manifest (rendered from the services variable)"
  type        = "String"
  tier        = length(local.manifest) > 4096 ? "Advanced" : "Standard"
  value       = local.manifest
  tags        = var.tags
}

resource "aws_sns_topic" "notifications" {
  name              = "${var.name}-notifications"
  kms_master_key_id = aws_kms_key.this.arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.notification_emails)
  topic_arn = aws_sns_topic.notifications.arn
  protocol  = "email"
  endpoint  = each.value
}

# The key that signs approval links: generated here, written once, never in the state.
ephemeral "random_password" "link_key" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "link_key" {
  #checkov:skip=CKV2_AWS_57:The key signs approval links that expire within two days; rotating it only needs a new version (bump link_key_version) and invalidates links in flight.
  name        = "${var.name}/approval-link-key"
  description = "Signs greenlight's approval links"
  kms_key_id  = aws_kms_key.this.arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "link_key" {
  secret_id                = aws_secretsmanager_secret.link_key.id
  secret_string_wo         = ephemeral.random_password.link_key.result
  secret_string_wo_version = 1
}

resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.name}-dead-letters"
  kms_master_key_id         = aws_kms_key.this.arn
  message_retention_seconds = 1209600
  tags                      = var.tags
}

data "aws_iam_policy_document" "dead_letters" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.push.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id
  policy    = data.aws_iam_policy_document.dead_letters.json
}

# A push event that ends in the dead-letter queue deployed nothing: say so on the topic.
resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${var.name}-dead-letters"
  alarm_description   = "A push event greenlight could not take is in ${aws_sqs_queue.dead_letters.name}: nothing was deployed for it. Read the message and the function's log, fix the cause (the manifest, a permission), then push again or send the event to on-image-push once more."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  dimensions = {
    QueueName = aws_sqs_queue.dead_letters.name
  }
  tags = var.tags
}

################################################################################
# Functions
################################################################################

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${local.function_name[each.key]}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = "${local.function_name[each.key]}-${local.region}"
  description        = "greenlight's ${each.key} function"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

# What the Lambda service does with every function's role: write its logs and traces.
data "aws_iam_policy_document" "runtime" {
  for_each = local.functions

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "Traces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "runtime" {
  for_each = local.functions
  name     = "runtime"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.runtime[each.key].json
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "calls"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}

resource "aws_lambda_function" "function" {
  #checkov:skip=CKV_AWS_116:Synchronous functions fail into the state machine's Catch; the two invoked asynchronously (on-image-push, validate) get the dead-letter queue below.
  #checkov:skip=CKV_AWS_117:The functions call only AWS APIs and Slack; no VPC resource is reached, and a VPC would need NAT for both.
  #checkov:skip=CKV_AWS_173:The environment holds names and ARNs only; secret values stay in Secrets Manager.
  #checkov:skip=CKV_AWS_272:The zips are built from this repository by `cargo xtask package`; add an aws_lambda_code_signing_config where a signing profile exists.
  for_each      = local.shared_functions
  function_name = local.function_name[each.key]
  description   = each.value.description
  role          = aws_iam_role.function[each.key].arn

  filename         = "${var.package_dir}/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.package_dir}/${each.key}/bootstrap.zip")
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  memory_size      = coalesce(try(var.function_settings[each.key].memory_size, null), each.value.memory_size)
  timeout          = coalesce(try(var.function_settings[each.key].timeout, null), each.value.timeout)

  # A public function URL and a push storm must not starve the account's other functions.
  reserved_concurrent_executions = each.key == "approval-callback" ? 10 : 50

  environment {
    variables = each.value.environment
  }

  dynamic "dead_letter_config" {
    for_each = contains(local.asynchronous, each.key) ? [aws_sqs_queue.dead_letters.arn] : []
    content {
      target_arn = dead_letter_config.value
    }
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.runtime]
}

resource "aws_lambda_function_url" "approval_callback" {
  #checkov:skip=CKV_AWS_258:Slack and email recipients cannot sign AWS requests; the function verifies Slack's signature or the link's HMAC on every call.
  function_name      = aws_lambda_function.function["approval-callback"].function_name
  authorization_type = "NONE"
}

resource "aws_lambda_function" "request_approval" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by the state machine (waitForTaskToken); failures go to its Catch.
  #checkov:skip=CKV_AWS_117:The function calls only AWS APIs and Slack; no VPC resource is reached.
  #checkov:skip=CKV_AWS_173:The environment holds names, ARNs and the callback URL only; secret values stay in Secrets Manager.
  #checkov:skip=CKV_AWS_272:The zip is built from this repository by `cargo xtask package`; add an aws_lambda_code_signing_config where a signing profile exists.
  function_name = local.function_name["request-approval"]
  description   = local.functions["request-approval"].description
  role          = aws_iam_role.function["request-approval"].arn

  filename         = "${var.package_dir}/request-approval/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.package_dir}/request-approval/bootstrap.zip")
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  memory_size      = coalesce(try(var.function_settings["request-approval"].memory_size, null), local.functions["request-approval"].memory_size)
  timeout          = coalesce(try(var.function_settings["request-approval"].timeout, null), local.functions["request-approval"].timeout)

  reserved_concurrent_executions = 50

  environment {
    variables = merge(local.functions["request-approval"].environment, {
      GREENLIGHT_CALLBACK_URL = aws_lambda_function_url.approval_callback.function_url
    })
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function["request-approval"].name
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.runtime]
}

################################################################################
# What each function's code calls (functions/<name>/Cargo.toml, aws-calls and implied-actions)
################################################################################

data "aws_iam_policy_document" "function" {
  # checkov cannot read statements built from a local; tests/infra.rs checks them instead:
  # every action is one the function declares, no action is a wildcard, and a statement on
  # "*" says why in `unscoped`.
  for_each = local.policy_statements

  dynamic "statement" {
    # A statement on an optional secret that is not configured has no resource: left out.
    for_each = [for s in each.value : s if length(s.resources) > 0]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = lookup(statement.value, "conditions", [])
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

################################################################################
# State machine
################################################################################

resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "InvokeSteps"
    actions   = ["lambda:InvokeFunction"]
    resources = [for f in ["prepare", "start-deployment", "deployment-status", "finish", "rollback", "request-approval"] : local.function_arn[f]]
  }
  statement {
    #checkov:skip=CKV_AWS_111:The log delivery actions accept no resource ARN (CloudWatch Logs' documented policy for Step Functions).
    #checkov:skip=CKV_AWS_356:The log delivery actions accept no resource ARN (CloudWatch Logs' documented policy for Step Functions).
    sid = "DeliverLogs"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "Traces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${local.state_machine_name}-${local.region}"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "steps"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

resource "aws_sfn_state_machine" "deploy" {
  #checkov:skip=CKV_AWS_285:Execution data carries the approval's task token (request-approval's input), which must appear in no log; the execution history (GetExecutionHistory) keeps every state's input and output, and each function logs its own step.
  name     = local.state_machine_name
  type     = "STANDARD"
  role_arn = aws_iam_role.state_machine.arn
  definition = templatefile("${path.module}/../../../state-machine/deploy.asl.json", {
    prepare_function_arn           = local.function_arn["prepare"]
    start_deployment_function_arn  = local.function_arn["start-deployment"]
    deployment_status_function_arn = local.function_arn["deployment-status"]
    finish_function_arn            = local.function_arn["finish"]
    rollback_function_arn          = local.function_arn["rollback"]
    request_approval_function_arn  = local.function_arn["request-approval"]
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = false
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.state_machine, aws_lambda_function.function, aws_lambda_function.request_approval]
}

################################################################################
# ECR pushes → on-image-push
################################################################################

resource "aws_cloudwatch_event_rule" "push" {
  name        = "${var.name}-ecr-push"
  description = "Successful ECR pushes to the repositories greenlight deploys"
  event_pattern = jsonencode({
    source      = ["aws.ecr"]
    detail-type = ["ECR Image Action"]
    detail = {
      action-type     = ["PUSH"]
      result          = ["SUCCESS"]
      repository-name = local.repositories
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "push" {
  rule = aws_cloudwatch_event_rule.push.name
  arn  = aws_lambda_function.function["on-image-push"].arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 8
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letters.arn
  }
}

resource "aws_lambda_permission" "push" {
  statement_id  = "EcrPushes"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["on-image-push"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.push.arn
}
