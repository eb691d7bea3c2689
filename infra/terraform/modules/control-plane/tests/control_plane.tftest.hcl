# Offline plan-only checks of the control-plane module.

variables {
  database_url    = "postgres://sluice:s3cr$t@db.internal:5432/sluice?sslmode=require"
  admin_key       = "ak_0123456789abcdefghij"
  artifact_url    = "https://releases.example.com/v0.1.0/sluice"
  artifact_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
}

run "control_plane_defaults" {
  command = plan

  assert {
    condition     = contains(split("\n", output.systemd_unit), "ExecStart=/opt/sluice/bin/sluice control-plane")
    error_message = "the unit runs `sluice control-plane`"
  }
  assert {
    condition = alltrue([for line in [
      "User=sluice", "Restart=on-failure", "LimitNOFILE=65536", "NoNewPrivileges=yes", "ProtectSystem=strict",
      "ProtectHome=yes", "ReadWritePaths=/var/lib/sluice", "EnvironmentFile=/etc/sluice/sluice-control-plane.env",
    ] : contains(split("\n", output.systemd_unit), line)])
    error_message = "the unit must be hardened like the gateway's"
  }
  assert {
    condition     = length(output.capabilities) == 0 && !strcontains(output.systemd_unit, "AmbientCapabilities")
    error_message = "ports 9180 and 9091 need no capability"
  }
  assert {
    condition     = !strcontains(output.systemd_unit, "db.internal") && !strcontains(output.install_script, "db.internal") && !strcontains(output.systemd_unit, "ak_0123")
    error_message = "DATABASE_URL and the admin key stay out of the unit and the installer"
  }
  assert {
    condition = alltrue([for line in [
      "DATABASE_URL=\"postgres://sluice:s3cr\\$t@db.internal:5432/sluice?sslmode=require\"",
      "SLUICE_ADMIN_KEY=\"ak_0123456789abcdefghij\"",
      "SLUICE_ADMIN_ADDR=\"0.0.0.0:9180\"",
      "SLUICE_STATUS_ADDR=\"127.0.0.1:9091\"",
      "SLUICE_LOG_LEVEL=\"info\"",
    ] : contains(split("\n", output.environment_file), line)])
    error_message = "the environment file carries DATABASE_URL ($ escaped), the admin key and the addresses"
  }
  assert {
    condition     = [for f in yamldecode(output.user_data).write_files : f.permissions if f.path == "/etc/sluice/sluice-control-plane.env"] == ["0600"]
    error_message = "the environment file holding DATABASE_URL is readable by root only"
  }
  assert {
    condition     = contains(split("\n", output.sysctl_conf), "net.ipv4.ip_local_reserved_ports = 9180,9091")
    error_message = "the admin and status ports are kept out of the ephemeral range"
  }
  assert {
    condition     = output.admin_port == 9180
    error_message = "admin port output"
  }
}

run "generated_admin_key_when_none_given" {
  command = plan
  variables {
    admin_key = null
  }
  assert {
    condition     = !strcontains(output.environment_file, "SLUICE_ADMIN_KEY")
    error_message = "without admin_key the first start generates a key"
  }
}

run "admin_on_port_443_gets_bind_capability" {
  command = plan
  variables {
    admin_addr = "0.0.0.0:443"
  }
  assert {
    condition     = contains(split("\n", output.systemd_unit), "AmbientCapabilities=CAP_NET_BIND_SERVICE")
    error_message = "port 443 needs CAP_NET_BIND_SERVICE"
  }
}

run "deno_control_plane_from_release" {
  command = plan
  variables {
    runtime          = "deno"
    artifact_url     = null
    artifact_sha256  = null
    package_version  = "0.2.0"
    release_base_url = "https://releases.example.com/sluice"
  }
  assert {
    condition     = contains(split("\n", output.systemd_unit), "ExecStart=/opt/sluice/bin/deno run -A --unstable-net --no-prompt --cached-only --no-lock runtime/deno/main.ts control-plane")
    error_message = "deno runs the control-plane command"
  }
  assert {
    condition     = strcontains(output.install_script, "artifact_url='https://releases.example.com/sluice/v0.2.0/sluice-0.2.0.tar.gz'")
    error_message = "deno installs the versioned tarball"
  }
}
