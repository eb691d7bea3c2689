# Offline plan-only checks that gateway-host rejects bad input with its own validation message.
# (Rendering checks are in tests/.)

variables {
  control_plane_url  = "https://cp.sluice.internal:9180"
  gateway_group      = "edge"
  gateway_token      = "gt_0123456789abcdefghij"
  artifact_url       = "https://releases.example.com/v0.1.0/sluice"
  artifact_sha256    = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  listen_port_ranges = ["9000-9100"]
}

run "rejects_unknown_runtime" {
  command = plan
  variables {
    runtime = "python"
  }
  expect_failures = [var.runtime]
}

run "rejects_both_artifact_sources" {
  command = plan
  variables {
    package_version  = "0.1.0"
    release_base_url = "https://releases.example.com"
  }
  expect_failures = [var.artifact_url]
}

run "rejects_missing_checksum" {
  command = plan
  variables {
    artifact_sha256 = null
  }
  expect_failures = [var.artifact_sha256]
}

run "rejects_plain_http_artifact" {
  command = plan
  variables {
    artifact_url = "http://releases.example.com/sluice"
  }
  expect_failures = [var.artifact_url]
}

run "rejects_bad_port_ranges" {
  command = plan
  variables {
    listen_port_ranges = ["9100-9000", "70000"]
  }
  expect_failures = [var.listen_port_ranges]
}

run "rejects_short_token" {
  command = plan
  variables {
    gateway_token = "short"
  }
  expect_failures = [var.gateway_token]
}

run "rejects_bad_control_plane_url" {
  command = plan
  variables {
    control_plane_url = "cp.sluice.internal:9180"
  }
  expect_failures = [var.control_plane_url]
}

run "rejects_bad_log_level" {
  command = plan
  variables {
    log_level = "verbose"
  }
  expect_failures = [var.log_level]
}

run "rejects_root_user" {
  command = plan
  variables {
    service_user = "root"
  }
  expect_failures = [var.service_user]
}
