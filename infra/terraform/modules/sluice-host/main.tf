# Renders everything a Sluice host needs (systemd unit, environment file, kernel settings, installer)
# and packs it into cloud-init user data. Only built-in functions: no provider, no network at plan time.

locals {
  env_file_path  = "/etc/sluice/${var.service_name}.env"
  unit_path      = "/etc/systemd/system/${var.service_name}.service"
  sysctl_path    = "/etc/sysctl.d/60-${var.service_name}.conf"
  installer_path = "/usr/local/sbin/${var.service_name}-install"

  # Each `PORT` or `FROM-TO` entry as [from, to].
  port_bounds = [for r in var.bind_ports : [tonumber(split("-", r)[0]), tonumber(reverse(split("-", r))[0])]]
  lowest_port = length(local.port_bounds) == 0 ? 65536 : min([for b in local.port_bounds : b[0]]...)
  # The capability is granted only when a privileged port is really asked for: the service otherwise runs with none.
  capabilities = local.lowest_port < 1024 ? ["CAP_NET_BIND_SERVICE"] : []

  app_dir = "${var.install_dir}/app"
  exec_start = {
    bun  = "${var.install_dir}/bin/sluice ${var.command}"
    node = "${var.install_dir}/node/bin/node --import tsx runtime/node/main.ts ${var.command}"
    # --cached-only: npm packages come from the installed node_modules, never fetched at start; --no-lock: the
    # app tree is read-only under ProtectSystem=strict, so Deno must not try to write deno.lock.
    deno = "${var.install_dir}/bin/deno run -A --unstable-net --no-prompt --cached-only --no-lock runtime/deno/main.ts ${var.command}"
  }
  runtime_environment = {
    bun  = {}
    node = { NODE_ENV = "production" }
    deno = { NODE_ENV = "production", DENO_DIR = "${var.data_dir}/deno-cache", DENO_NO_UPDATE_CHECK = "1" }
  }

  artifact_name = var.runtime == "bun" ? "sluice" : "sluice-${coalesce(var.package_version, "custom")}.tar.gz"
  artifact_url  = var.artifact_url != null ? var.artifact_url : "${coalesce(var.release_base_url, "https://invalid.example")}/v${coalesce(var.package_version, "0.0.0")}/${local.artifact_name}"
  sums_url      = var.artifact_url != null ? "" : "${coalesce(var.release_base_url, "https://invalid.example")}/v${coalesce(var.package_version, "0.0.0")}/SHA256SUMS"

  # systemd EnvironmentFile: double-quoted values; escaping \ " $ ` keeps every value literal whether or
  # not the systemd version expands variables in environment files.
  all_environment = merge(local.runtime_environment[var.runtime], var.environment, var.secret_environment)
  env_lines = [
    for k in sort(keys(local.all_environment)) :
    "${k}=\"${replace(replace(replace(replace(local.all_environment[k], "\\", "\\\\"), "\"", "\\\""), "$", "\\$"), "`", "\\`")}\""
  ]

  systemd_unit = templatefile("${path.module}/templates/sluice.service.tftpl", {
    description       = var.description
    user              = var.service_user
    env_file          = local.env_file_path
    exec_start        = local.exec_start[var.runtime]
    working_directory = var.runtime == "bun" ? var.data_dir : local.app_dir
    data_dir          = var.data_dir
    capabilities      = local.capabilities
    limit_nofile      = var.limit_nofile
    stop_timeout      = var.stop_timeout_seconds
  })

  environment_file = templatefile("${path.module}/templates/sluice.env.tftpl", {
    service_name = var.service_name
    lines        = local.env_lines
  })

  sysctl_conf = templatefile("${path.module}/templates/sysctl.conf.tftpl", {
    service_name = var.service_name
    settings     = var.sysctl
  })

  install_script = templatefile("${path.module}/templates/install.sh.tftpl", {
    service_name    = var.service_name
    runtime         = var.runtime
    install_dir     = var.install_dir
    app_dir         = local.app_dir
    data_dir        = var.data_dir
    user            = var.service_user
    artifact_url    = local.artifact_url
    artifact_sha256 = var.artifact_sha256 != null ? lower(var.artifact_sha256) : ""
    artifact_name   = local.artifact_name
    sums_url        = local.sums_url
    node_version    = var.node_version
    deno_version    = var.deno_version
  })

  packages = concat(["ca-certificates", "curl"], var.runtime == "bun" ? [] : ["xz-utils", "unzip"])

  cloud_config = {
    package_update = true
    packages       = local.packages
    write_files = [
      { path = local.env_file_path, owner = "root:root", permissions = "0600", content = local.environment_file },
      { path = local.unit_path, owner = "root:root", permissions = "0644", content = local.systemd_unit },
      { path = local.sysctl_path, owner = "root:root", permissions = "0644", content = local.sysctl_conf },
      { path = local.installer_path, owner = "root:root", permissions = "0750", content = local.install_script },
    ]
    # One command: the installer stops at the first failure, which cloud-init then reports.
    runcmd = [[local.installer_path]]
  }

  user_data = "#cloud-config\n${yamlencode(local.cloud_config)}"
}
