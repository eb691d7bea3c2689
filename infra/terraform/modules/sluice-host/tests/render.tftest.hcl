# Offline checks of the shared renderer: `terraform test` plans with no provider.

variables {
  service_name    = "sluice-test"
  description     = "Sluice test"
  command         = "gateway"
  artifact_url    = "https://releases.example.com/v0.1.0/sluice"
  artifact_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  environment     = { SLUICE_LOG_LEVEL = "info" }
}

run "bun_binary_unit" {
  command = plan

  assert {
    condition     = strcontains(output.systemd_unit, "ExecStart=/opt/sluice/bin/sluice gateway\n")
    error_message = "bun runs the single binary"
  }
  assert {
    condition     = !strcontains(output.systemd_unit, "AmbientCapabilities")
    error_message = "no capability without a privileged port"
  }
  assert {
    condition     = strcontains(output.systemd_unit, "CapabilityBoundingSet=\n")
    error_message = "an empty bounding set drops every capability"
  }
  assert {
    condition     = startswith(output.user_data, "#cloud-config\n")
    error_message = "user data must be a cloud-config document"
  }
  assert {
    condition     = yamldecode(output.user_data).runcmd == [["/usr/local/sbin/sluice-test-install"]]
    error_message = "cloud-init runs the installer"
  }
  assert {
    condition     = base64decode(output.user_data_base64) == output.user_data
    error_message = "the base64 output encodes the user data"
  }
}

run "privileged_port_grants_bind_capability" {
  command = plan
  variables {
    bind_ports = ["9000-9100", "53"]
  }
  assert {
    condition     = output.capabilities == tolist(["CAP_NET_BIND_SERVICE"])
    error_message = "port 53 needs CAP_NET_BIND_SERVICE"
  }
  assert {
    condition     = strcontains(output.systemd_unit, "AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n")
    error_message = "the unit grants exactly the bind capability"
  }
}

run "environment_values_are_quoted_literally" {
  command = plan
  variables {
    secret_environment = { DATABASE_URL = "postgres://u:p\"a$b`c\\d@db:5432/sluice" }
  }
  assert {
    condition     = strcontains(output.environment_file, "DATABASE_URL=\"postgres://u:p\\\"a\\$b\\`c\\\\d@db:5432/sluice\"\n")
    error_message = "\\ \" $ and ` must be escaped inside the double-quoted value"
  }
  assert {
    condition     = strcontains(output.environment_file, "SLUICE_LOG_LEVEL=\"info\"\n")
    error_message = "plain settings are written too"
  }
}
