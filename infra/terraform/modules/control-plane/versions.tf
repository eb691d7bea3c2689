terraform {
  # Cross-variable validation needs 1.9; the modules use no provider, so `terraform init` downloads nothing.
  required_version = ">= 1.9.0"
}
