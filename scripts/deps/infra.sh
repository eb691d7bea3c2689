#!/usr/bin/env bash
# Tools test/infra needs: Terraform (not a Debian package: the HashiCorp release zip, checked against its
# SHA256SUMS) and systemd-analyze (Debian package `systemd`, to verify the rendered units; its services are
# kept from starting). Idempotent: installs only what is missing.
set -euo pipefail
terraform_version=1.11.4

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update; apt_updated=1; fi
  apt-get install -y --no-install-recommends "$@"
}

if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt_install systemd
fi

if ! command -v terraform >/dev/null 2>&1; then
  need=()
  command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
  command -v unzip >/dev/null 2>&1 || need+=(unzip)
  if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi
  case "$(dpkg --print-architecture)" in
    amd64) arch=amd64 ;;
    arm64) arch=arm64 ;;
    *) echo "infra deps: no Terraform build for $(dpkg --print-architecture)" >&2; exit 1 ;;
  esac
  zip="terraform_${terraform_version}_linux_${arch}.zip"
  base="https://releases.hashicorp.com/terraform/${terraform_version}"
  tmp=$(mktemp -d)
  curl -fsSL --retry 3 -o "$tmp/$zip" "$base/$zip"
  curl -fsSL --retry 3 -o "$tmp/SHA256SUMS" "$base/terraform_${terraform_version}_SHA256SUMS"
  (cd "$tmp" && grep "  $zip\$" SHA256SUMS | sha256sum -c --quiet -)
  unzip -o -q "$tmp/$zip" terraform -d "$tmp"
  install -m 0755 "$tmp/terraform" /usr/local/bin/terraform
  rm -rf "$tmp"
fi
terraform version | head -1
