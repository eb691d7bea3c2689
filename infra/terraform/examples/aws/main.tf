# Sluice on AWS: a control plane (an autoscaling group behind an internal NLB, on your PostgreSQL) and
# gateways (an autoscaling group behind an internet-facing NLB). Both NLBs health-check `/readyz` on the
# status port, so an instance takes traffic only once its admin API / config are ready.
#
# Two applies (see README.md): first with gateway_count = 0 to create the control plane, then with a
# gateway token issued by it.

data "aws_vpc" "this" {
  id = var.vpc_id
}

# Ubuntu 24.04 LTS (cloud-init, systemd 255) for amd64.
data "aws_ssm_parameter" "ubuntu" {
  name = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
}

locals {
  admin_port  = 9180
  status_port = 9091
  # Plain HTTP inside the VPC; put a TLS listener with an ACM certificate on the NLB to encrypt it.
  control_plane_url = "http://${aws_lb.control_plane.dns_name}:${local.admin_port}"

  gateways_enabled = var.gateway_count > 0
  listeners        = { for l in var.stream_listeners : "${lower(l.protocol)}-${l.port}" => l }

  readyz_check = {
    protocol            = "HTTP"
    port                = tostring(local.status_port)
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

# ---- control plane ---------------------------------------------------------------------------

module "control_plane" {
  source = "../../modules/control-plane"

  runtime         = var.runtime
  artifact_url    = var.artifact_url
  artifact_sha256 = var.artifact_sha256
  database_url    = var.database_url
  admin_key       = var.admin_key
  admin_addr      = "0.0.0.0:${local.admin_port}"
  status_addr     = "0.0.0.0:${local.status_port}"
}

resource "aws_security_group" "control_plane" {
  name_prefix = "${var.name}-cp-"
  description = "Sluice control plane: admin API and config stream, status port for NLB health checks"
  vpc_id      = var.vpc_id

  ingress {
    description = "admin API: gateways (via the internal NLB, client IP preserved) and operators"
    from_port   = local.admin_port
    to_port     = local.admin_port
    protocol    = "tcp"
    cidr_blocks = concat([data.aws_vpc.this.cidr_block], var.admin_cidrs)
  }
  ingress {
    description = "/readyz for NLB health checks"
    from_port   = local.status_port
    to_port     = local.status_port
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }
  egress {
    description = "PostgreSQL, release download, OS packages"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_launch_template" "control_plane" {
  name_prefix            = "${var.name}-cp-"
  image_id               = data.aws_ssm_parameter.ubuntu.insecure_value
  instance_type          = var.instance_type
  user_data              = module.control_plane.user_data_base64
  vpc_security_group_ids = [aws_security_group.control_plane.id]

  metadata_options {
    http_tokens = "required"
  }
  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.name}-control-plane", Role = "sluice-control-plane" }
  }
}

resource "aws_lb" "control_plane" {
  name               = "${var.name}-cp"
  internal           = true
  load_balancer_type = "network"
  subnets            = var.private_subnet_ids
}

resource "aws_lb_target_group" "control_plane" {
  name                 = "${var.name}-cp-admin"
  port                 = local.admin_port
  protocol             = "TCP"
  vpc_id               = var.vpc_id
  deregistration_delay = 15

  health_check {
    protocol            = local.readyz_check.protocol
    port                = local.readyz_check.port
    path                = local.readyz_check.path
    matcher             = local.readyz_check.matcher
    interval            = local.readyz_check.interval
    healthy_threshold   = local.readyz_check.healthy_threshold
    unhealthy_threshold = local.readyz_check.unhealthy_threshold
  }
}

resource "aws_lb_listener" "control_plane" {
  load_balancer_arn = aws_lb.control_plane.arn
  port              = local.admin_port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.control_plane.arn
  }
}

resource "aws_autoscaling_group" "control_plane" {
  name_prefix               = "${var.name}-cp-"
  min_size                  = var.control_plane_count
  max_size                  = var.control_plane_count
  desired_capacity          = var.control_plane_count
  vpc_zone_identifier       = var.private_subnet_ids
  target_group_arns         = [aws_lb_target_group.control_plane.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.control_plane.id
    version = aws_launch_template.control_plane.latest_version
  }
  # A new artifact or setting changes the user data, hence the launch template: replace instances one by one.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }
  tag {
    key                 = "Name"
    value               = "${var.name}-control-plane"
    propagate_at_launch = true
  }
}

# ---- gateways --------------------------------------------------------------------------------

module "gateway" {
  source = "../../modules/gateway-host"
  count  = local.gateways_enabled ? 1 : 0

  runtime            = var.runtime
  artifact_url       = var.artifact_url
  artifact_sha256    = var.artifact_sha256
  control_plane_url  = local.control_plane_url
  gateway_group      = var.gateway_group
  gateway_token      = var.gateway_token
  listen_port_ranges = distinct([for l in var.stream_listeners : tostring(l.port)])
  status_addr        = "0.0.0.0:${local.status_port}"
}

resource "aws_security_group" "gateway" {
  count       = local.gateways_enabled ? 1 : 0
  name_prefix = "${var.name}-gw-"
  description = "Sluice gateways: stream ports from clients, status port for NLB health checks"
  vpc_id      = var.vpc_id

  dynamic "ingress" {
    for_each = local.listeners
    content {
      description = "stream ${ingress.key}"
      from_port   = ingress.value.port
      to_port     = ingress.value.port
      protocol    = lower(ingress.value.protocol)
      cidr_blocks = var.client_cidrs
    }
  }
  ingress {
    description = "/readyz for NLB health checks"
    from_port   = local.status_port
    to_port     = local.status_port
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }
  egress {
    description = "control plane, upstreams, release download"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_launch_template" "gateway" {
  count                  = local.gateways_enabled ? 1 : 0
  name_prefix            = "${var.name}-gw-"
  image_id               = data.aws_ssm_parameter.ubuntu.insecure_value
  instance_type          = var.instance_type
  user_data              = module.gateway[0].user_data_base64
  vpc_security_group_ids = [aws_security_group.gateway[0].id]

  metadata_options {
    http_tokens = "required"
  }
  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.name}-gateway", Role = "sluice-gateway", GatewayGroup = var.gateway_group }
  }
}

resource "aws_lb" "gateway" {
  count                            = local.gateways_enabled ? 1 : 0
  name                             = "${var.name}-gw"
  internal                         = false
  load_balancer_type               = "network"
  subnets                          = var.public_subnet_ids
  enable_cross_zone_load_balancing = true
}

resource "aws_lb_target_group" "gateway" {
  for_each             = local.gateways_enabled ? local.listeners : {}
  name                 = "${var.name}-gw-${each.key}"
  port                 = each.value.port
  protocol             = each.value.protocol
  vpc_id               = var.vpc_id
  deregistration_delay = 30 # matches the gateway's drain (stop_timeout_seconds)

  # UDP target groups take HTTP health checks too: every listener follows the gateway's /readyz.
  health_check {
    protocol            = local.readyz_check.protocol
    port                = local.readyz_check.port
    path                = local.readyz_check.path
    matcher             = local.readyz_check.matcher
    interval            = local.readyz_check.interval
    healthy_threshold   = local.readyz_check.healthy_threshold
    unhealthy_threshold = local.readyz_check.unhealthy_threshold
  }
}

resource "aws_lb_listener" "gateway" {
  for_each          = aws_lb_target_group.gateway
  load_balancer_arn = aws_lb.gateway[0].arn
  port              = each.value.port
  protocol          = each.value.protocol

  default_action {
    type             = "forward"
    target_group_arn = each.value.arn
  }
}

resource "aws_autoscaling_group" "gateway" {
  count                     = local.gateways_enabled ? 1 : 0
  name_prefix               = "${var.name}-gw-"
  min_size                  = var.gateway_count
  max_size                  = var.gateway_count * 2
  desired_capacity          = var.gateway_count
  vpc_zone_identifier       = var.private_subnet_ids
  target_group_arns         = [for tg in aws_lb_target_group.gateway : tg.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.gateway[0].id
    version = aws_launch_template.gateway[0].latest_version
  }
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }
  tag {
    key                 = "Name"
    value               = "${var.name}-gateway"
    propagate_at_launch = true
  }
}
