# Offline plan-only checks that control-plane rejects bad input with its own validation message.
# (Rendering checks are in tests/.)

variables {
  database_url    = "postgres://sluice:s3cr$t@db.internal:5432/sluice?sslmode=require"
  admin_key       = "ak_0123456789abcdefghij"
  artifact_url    = "https://releases.example.com/v0.1.0/sluice"
  artifact_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
}

run "rejects_non_postgres_database_url" {
  command = plan
  variables {
    database_url = "mysql://root@db:3306/sluice"
  }
  expect_failures = [var.database_url]
}

run "rejects_short_admin_key" {
  command = plan
  variables {
    admin_key = "admin"
  }
  expect_failures = [var.admin_key]
}

run "rejects_admin_addr_without_port" {
  command = plan
  variables {
    admin_addr = "0.0.0.0"
  }
  expect_failures = [var.admin_addr]
}

run "rejects_missing_artifact" {
  command = plan
  variables {
    artifact_url    = null
    artifact_sha256 = null
  }
  expect_failures = [var.artifact_url]
}

run "rejects_package_version_without_base_url" {
  command = plan
  variables {
    artifact_url    = null
    artifact_sha256 = null
    package_version = "0.1.0"
  }
  expect_failures = [var.release_base_url]
}
