output "user_data" {
  description = "cloud-init user data (#cloud-config): installs Sluice, writes the environment file, unit and sysctl settings, starts sluice-control-plane. Contains DATABASE_URL."
  value       = module.host.user_data
  sensitive   = true
}

output "user_data_base64" {
  description = "user_data, base64-encoded (aws_launch_template.user_data and similar)."
  value       = module.host.user_data_base64
  sensitive   = true
}

output "systemd_unit" {
  description = "The rendered sluice-control-plane.service."
  value       = module.host.systemd_unit
}

output "environment_file" {
  description = "The rendered /etc/sluice/sluice-control-plane.env (holds DATABASE_URL and SLUICE_ADMIN_KEY)."
  value       = module.host.environment_file
  sensitive   = true
}

output "sysctl_conf" {
  description = "The rendered /etc/sysctl.d/60-sluice-control-plane.conf."
  value       = module.host.sysctl_conf
}

output "install_script" {
  description = "The rendered installer cloud-init runs."
  value       = module.host.install_script
}

output "capabilities" {
  description = "Ambient capabilities of the service: [\"CAP_NET_BIND_SERVICE\"] only when the admin or status port is below 1024."
  value       = module.host.capabilities
}

output "service_name" {
  description = "systemd unit name (without .service)."
  value       = module.host.service_name
}

output "status_port" {
  description = "Port of /healthz, /readyz and /metrics (for load balancer health checks)."
  value       = local.status_port
}

output "paths" {
  description = "Where the files land on the host."
  value       = module.host.paths
}

output "admin_port" {
  description = "Port of the admin API (gateways' --control-plane URL and operators use it)."
  value       = local.admin_port
}
