# Offline plan-only checks of the gateway-host module: `terraform test` downloads nothing.

variables {
  control_plane_url  = "https://cp.sluice.internal:9180"
  gateway_group      = "edge"
  gateway_token      = "gt_0123456789abcdefghij"
  artifact_url       = "https://releases.example.com/v0.1.0/sluice"
  artifact_sha256    = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  listen_port_ranges = ["9000-9100"]
}

run "bun_gateway_defaults" {
  command = plan

  assert {
    condition     = strcontains(output.systemd_unit, "ExecStart=/opt/sluice/bin/sluice gateway\n")
    error_message = "the bun runtime runs the single binary's gateway command"
  }
  assert {
    condition = alltrue([for line in [
      "User=sluice", "Group=sluice", "Restart=on-failure", "LimitNOFILE=1048576", "NoNewPrivileges=yes",
      "ProtectSystem=strict", "ProtectHome=yes", "ReadWritePaths=/var/lib/sluice", "PrivateTmp=yes",
      "EnvironmentFile=/etc/sluice/sluice-gateway.env", "WantedBy=multi-user.target", "CapabilityBoundingSet=",
      "TimeoutStopSec=45s",
    ] : contains(split("\n", output.systemd_unit), line)])
    error_message = "the unit must be hardened: own user, restart on failure, file limit, read-only system, writable data dir only"
  }
  assert {
    condition     = !strcontains(output.systemd_unit, "AmbientCapabilities") && length(output.capabilities) == 0
    error_message = "ports 9000-9100 need no capability"
  }
  assert {
    condition     = !strcontains(output.systemd_unit, "gt_0123456789abcdefghij")
    error_message = "the token must not be in the world-readable unit"
  }
  assert {
    condition = alltrue([for line in [
      "SLUICE_CONTROL_PLANE=\"https://cp.sluice.internal:9180\"",
      "SLUICE_GATEWAY_GROUP=\"edge\"",
      "SLUICE_GATEWAY_TOKEN=\"gt_0123456789abcdefghij\"",
      "SLUICE_STATUS_ADDR=\"127.0.0.1:9091\"",
      "SLUICE_DATA_DIR=\"/var/lib/sluice\"",
      "SLUICE_LOG_LEVEL=\"info\"",
      "SLUICE_DRAIN_TIMEOUT=\"30\"",
    ] : contains(split("\n", output.environment_file), line)])
    error_message = "the environment file carries the control plane, group, token and settings"
  }
  assert {
    condition = alltrue([for line in [
      "net.core.somaxconn = 65535",
      "net.ipv4.ip_local_port_range = 1024 65535",
      "net.ipv4.ip_local_reserved_ports = 9000-9100,9091",
      "net.ipv4.tcp_tw_reuse = 1",
      "fs.file-max = 2097152",
    ] : contains(split("\n", output.sysctl_conf), line)])
    error_message = "kernel settings for a busy proxy, with listen ports kept out of the ephemeral range"
  }
}

run "user_data_installs_and_verifies_the_artifact" {
  command = plan

  assert {
    condition     = startswith(output.user_data, "#cloud-config\n")
    error_message = "user data must start with #cloud-config"
  }
  assert {
    condition = (
      [for f in yamldecode(output.user_data).write_files : f.path] ==
      ["/etc/sluice/sluice-gateway.env", "/etc/systemd/system/sluice-gateway.service", "/etc/sysctl.d/60-sluice-gateway.conf", "/usr/local/sbin/sluice-gateway-install"]
    )
    error_message = "cloud-init writes the env file, unit, sysctl file and installer"
  }
  assert {
    condition     = [for f in yamldecode(output.user_data).write_files : f.permissions if f.path == "/etc/sluice/sluice-gateway.env"] == ["0600"]
    error_message = "the environment file holding the token is readable by root only"
  }
  assert {
    condition     = [for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/sluice-gateway.service"] == [output.systemd_unit]
    error_message = "the user data writes exactly the rendered unit"
  }
  assert {
    condition     = yamldecode(output.user_data).runcmd == [["/usr/local/sbin/sluice-gateway-install"]]
    error_message = "cloud-init runs the installer"
  }
  assert {
    condition = alltrue([
      strcontains(output.install_script, "artifact_url='https://releases.example.com/v0.1.0/sluice'"),
      strcontains(output.install_script, "artifact_sha256='0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'"),
      strcontains(output.install_script, "sha256sum -c"),
      strcontains(output.install_script, "systemctl enable 'sluice-gateway.service'"),
    ])
    error_message = "the installer downloads the artifact, checks its SHA-256 and enables the service"
  }
  assert {
    condition     = base64decode(output.user_data_base64) == output.user_data
    error_message = "user_data_base64 encodes user_data"
  }
}

run "privileged_port_grants_only_net_bind_service" {
  command = plan
  variables {
    listen_port_ranges = ["443", "8443-8445"]
  }
  assert {
    condition     = contains(split("\n", output.systemd_unit), "AmbientCapabilities=CAP_NET_BIND_SERVICE")
    error_message = "port 443 needs CAP_NET_BIND_SERVICE"
  }
  assert {
    condition     = contains(split("\n", output.systemd_unit), "CapabilityBoundingSet=CAP_NET_BIND_SERVICE")
    error_message = "and no other capability"
  }
}

run "node_runtime_from_package_version" {
  command = plan
  variables {
    runtime          = "node"
    artifact_url     = null
    artifact_sha256  = null
    package_version  = "0.1.0"
    release_base_url = "https://releases.example.com/sluice"
    status_addr      = "0.0.0.0:9091"
    listen_addr      = "0.0.0.0"
  }
  assert {
    condition     = contains(split("\n", output.systemd_unit), "ExecStart=/opt/sluice/node/bin/node --import tsx runtime/node/main.ts gateway")
    error_message = "node runs the tarball's entry point with tsx"
  }
  assert {
    condition     = contains(split("\n", output.environment_file), "SLUICE_LISTEN_ADDR=\"0.0.0.0\"")
    error_message = "the listen address goes to the environment file"
  }
  assert {
    condition     = contains(split("\n", output.systemd_unit), "WorkingDirectory=/opt/sluice/app")
    error_message = "node runs from the unpacked app tree"
  }
  assert {
    condition = alltrue([
      strcontains(output.install_script, "artifact_url='https://releases.example.com/sluice/v0.1.0/sluice-0.1.0.tar.gz'"),
      strcontains(output.install_script, "sums_url='https://releases.example.com/sluice/v0.1.0/SHA256SUMS'"),
      strcontains(output.install_script, "npm ci --omit=dev"),
      strcontains(output.install_script, "node_version='20.20.2'"),
    ])
    error_message = "the installer fetches the versioned tarball, checks it against SHA256SUMS and installs production deps"
  }
  assert {
    condition     = contains(yamldecode(output.user_data).packages, "xz-utils")
    error_message = "the node tarball needs xz"
  }
  assert {
    condition     = output.status_port == 9091
    error_message = "status port is exposed for health checks"
  }
}

run "deno_runtime" {
  command = plan
  variables {
    runtime         = "deno"
    artifact_url    = "https://releases.example.com/v0.1.0/sluice-0.1.0.tar.gz"
    runtime_adapter = "node-compat"
  }
  assert {
    condition     = contains(split("\n", output.systemd_unit), "ExecStart=/opt/sluice/bin/deno run -A --unstable-net --no-prompt --cached-only --no-lock runtime/deno/main.ts gateway")
    error_message = "deno runs the deno entry point"
  }
  assert {
    condition     = contains(split("\n", output.environment_file), "SLUICE_RUNTIME_ADAPTER=\"node-compat\"")
    error_message = "the socket adapter choice goes to the environment file"
  }
  assert {
    condition     = strcontains(output.environment_file, "DENO_DIR=\"/var/lib/sluice/deno-cache\"")
    error_message = "deno caches inside the writable data dir"
  }
  assert {
    # The largest variant (deno installs Node.js too) must still fit EC2's 16 KiB user-data limit.
    condition     = length(output.user_data) <= 16384
    error_message = "user data exceeds 16 KiB"
  }
}

run "several_control_planes_and_longer_drain" {
  command = plan
  variables {
    control_plane_url     = "https://cp-a.internal:9180, https://cp-b.internal:9180"
    drain_timeout_seconds = 120
  }
  assert {
    condition     = contains(split("\n", output.environment_file), "SLUICE_CONTROL_PLANE=\"https://cp-a.internal:9180, https://cp-b.internal:9180\"")
    error_message = "a comma-separated list of control planes is passed through"
  }
  assert {
    condition     = contains(split("\n", output.systemd_unit), "TimeoutStopSec=135s") && contains(split("\n", output.environment_file), "SLUICE_DRAIN_TIMEOUT=\"120\"")
    error_message = "systemd waits for the drain plus a margin"
  }
}
