# Offline plan-only checks that sluice-host rejects bad input with its own validation message.
# (Rendering checks are in tests/.)

variables {
  service_name    = "sluice-test"
  description     = "Sluice test"
  command         = "gateway"
  artifact_url    = "https://releases.example.com/v0.1.0/sluice"
  artifact_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  environment     = { SLUICE_LOG_LEVEL = "info" }
}

run "rejects_unknown_command" {
  command = plan
  variables {
    command = "serve"
  }
  expect_failures = [var.command]
}
