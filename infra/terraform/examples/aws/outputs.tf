output "control_plane_url" {
  description = "Admin API / control-plane URL inside the VPC (what the gateways use)."
  value       = local.control_plane_url
}

output "gateway_endpoint" {
  description = "DNS name of the gateways' NLB (clients connect here on the stream ports)."
  value       = local.gateways_enabled ? aws_lb.gateway[0].dns_name : null
}

output "stream_ports" {
  description = "NLB listeners in front of the gateways."
  value       = [for k, l in local.listeners : "${l.protocol}/${l.port}"]
}

output "control_plane_asg" {
  description = "Control-plane autoscaling group (aws autoscaling describe-auto-scaling-groups)."
  value       = aws_autoscaling_group.control_plane.name
}

output "gateway_asg" {
  description = "Gateway autoscaling group."
  value       = local.gateways_enabled ? aws_autoscaling_group.gateway[0].name : null
}
