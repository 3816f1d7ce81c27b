#!/usr/bin/env bash
# Builds the provider mirror `terraform init` installs from, and the CLI config pointing at it:
#   .build/mirror/registry.terraform.io/hashicorp/google/6.50.0/linux_amd64/   stand-in (schema only)
#   /opt/tf-plugins (or $TF_AWS_MIRROR)                                          the real AWS provider
#   .build/terraformrc                                                           export TF_CLI_CONFIG_FILE=...
# The stand-in serves the provider's published schema (schema-from-cdktf.mjs, from the pinned CDKTF
# bindings in package.json) over the plugin protocol (standin.py, the pinned tf package in .venv).
# Idempotent: reinstalls nothing that is already at its pinned version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
aws_mirror=${TF_AWS_MIRROR:-/opt/tf-plugins}
build=$here/.build
quiet() {
  local log
  log=$(mktemp)
  "$@" >"$log" 2>&1 || { cat "$log"; rm -f "$log"; return 1; }
  rm -f "$log"
}

if ! [ -x .venv/bin/python ] || ! .venv/bin/python -m pip freeze 2>/dev/null | grep -qx 'tf==1.2.0'; then
  quiet python3 -m venv .venv
  quiet .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
fi
node -e '
  const pkg = require("./package.json");
  const ok = Object.entries(pkg.dependencies).every(([name, version]) => {
    try { return require(`./node_modules/${name}/package.json`).version === version; } catch { return false; }
  });
  process.exit(ok ? 0 : 1);' || quiet npm ci --no-audit --no-fund --loglevel=error --ignore-scripts

mkdir -p "$build/schemas"
mirror_paths=()
for package in provider-google; do
  read -r address version < <(node -e '
    const p = require(`./node_modules/@cdktf/'"$package"'/package.json`).cdktf.provider;
    console.log(p.name, p.version);')
  type=${address##*/}
  schema=$build/schemas/$type-$version.json
  if ! [ -s "$schema" ] || [ schema-from-cdktf.mjs -nt "$schema" ]; then
    node schema-from-cdktf.mjs "node_modules/@cdktf/$package" >"$schema.tmp"
    mv -f "$schema.tmp" "$schema"
  fi
  dir=$build/mirror/$address/$version/linux_amd64
  mkdir -p "$dir"
  # Terraform hashes this folder into .terraform.lock.hcl: the stand-ins are never in a committed lock.
  cat >"$dir/terraform-provider-${type}_v${version}_x6" <<SCRIPT
#!/bin/sh
exec "$here/.venv/bin/python" "$here/standin.py" "$schema"
SCRIPT
  chmod +x "$dir/terraform-provider-${type}_v${version}_x6"
  mirror_paths+=("\"$address\"")
done

cat >"$build/terraformrc" <<CONFIG
# Written by tools/tf-google-standin/setup.sh: the stand-in for google, the real AWS
# provider from its mirror, nothing from the network.
provider_installation {
  filesystem_mirror {
    path    = "$build/mirror"
    include = [$(IFS=,; echo "${mirror_paths[*]}")]
  }
  filesystem_mirror {
    path    = "$aws_mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
}
CONFIG
echo "$build/terraformrc"
