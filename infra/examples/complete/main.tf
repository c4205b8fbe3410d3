# One service, web, deployed by greenlight: pushes of web:<tag> to ECR reach production after
# the test listener's checks and a human approval.

locals {
  name = "web"

  # One value for the manifest's approval and the deployment group's Ready wait.
  approval_required        = true
  approval_timeout_seconds = 3600

  tags = {
    project = "greenlight-example"
  }
}

resource "aws_ecr_repository" "web" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = local.tags
}

module "web" {
  source = "../../modules/ecs-service"

  name               = local.name
  cluster_name       = "apps"
  namespace_name     = "apps.internal"
  vpc_id             = var.vpc_id
  private_subnet_ids = var.private_subnet_ids
  public_subnet_ids  = var.public_subnet_ids
  certificate_arn    = var.certificate_arn
  access_logs_bucket = var.access_logs_bucket

  image          = "${aws_ecr_repository.web.repository_url}@${var.initial_image_digest}"
  repository_arn = aws_ecr_repository.web.arn
  container_port = 8080
  environment = {
    PORT = "8080"
  }
  secrets = {
    DATABASE_URL = var.database_url_secret_arn
  }
  health_check_command = ["CMD-SHELL", "wget -qO- http://localhost:8080/health || exit 1"]

  approval_required        = local.approval_required
  approval_timeout_seconds = local.approval_timeout_seconds
  hook_function_arns       = [module.greenlight.validate_function_arn]
  log_kms_key_arn          = module.greenlight.kms_key_arn
  alarm_topic_arns         = [module.greenlight.notification_topic_arn]

  tags = local.tags
}

module "greenlight" {
  source = "../../modules/greenlight"

  # `cargo xtask package` writes target/lambda/<function>/bootstrap.zip.
  package_dir = "${path.root}/../../../target/lambda"

  services = {
    (local.name) = {
      cluster    = module.web.cluster_name
      service    = module.web.service_name
      repository = aws_ecr_repository.web.name
      containers = [module.web.container_name]
      tags = {
        include = ["v*", "release-*"]
      }
      codedeploy = {
        application      = module.web.codedeploy_application
        deployment_group = module.web.codedeploy_deployment_group
      }
      load_balancer = {
        container = module.web.container_name
      }
      validation = {
        test_listener_url = "https://${var.domain_name}:8080"
        deadline_seconds  = 180
        checks = [
          {
            name = "health"
            path = "/health"
          },
          {
            name                  = "serves the pushed image"
            path                  = "/version"
            consecutive_successes = 3
            expect = {
              body_contains = "$${image_digest}"
            }
          },
        ]
      }
      approval = {
        required        = local.approval_required
        timeout_seconds = local.approval_timeout_seconds
      }
    }
  }

  pass_role_arns           = module.web.pass_role_arns
  slack_webhook_secret_arn = var.slack_webhook_secret_arn
  slack_signing_secret_arn = var.slack_signing_secret_arn
  notification_emails      = var.notification_emails

  tags = local.tags
}
