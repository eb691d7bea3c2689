output "user_data" {
  description = "cloud-init user data (#cloud-config) that installs and starts the service. Holds the secrets."
  value       = local.user_data
  sensitive   = true
}

output "user_data_base64" {
  description = "user_data, base64-encoded (for launch templates)."
  value       = base64encode(local.user_data)
  sensitive   = true
}

output "systemd_unit" {
  description = "The rendered systemd unit (no secrets: they are in the environment file)."
  value       = local.systemd_unit
}

output "environment_file" {
  description = "The rendered EnvironmentFile."
  value       = local.environment_file
  sensitive   = true
}

output "sysctl_conf" {
  description = "The rendered /etc/sysctl.d file."
  value       = local.sysctl_conf
}

output "install_script" {
  description = "The rendered installer run by cloud-init."
  value       = local.install_script
}

output "capabilities" {
  description = "Ambient capabilities granted to the service."
  value       = local.capabilities
}

output "service_name" {
  description = "systemd unit name (without .service)."
  value       = var.service_name
}

output "paths" {
  description = "Where the host files are written."
  value = {
    unit             = local.unit_path
    environment_file = local.env_file_path
    sysctl           = local.sysctl_path
    installer        = local.installer_path
    install_dir      = var.install_dir
    data_dir         = var.data_dir
  }
}
