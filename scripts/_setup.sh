# Sourced by scripts/demo, scripts/test, scripts/bench: install what is missing, then activate .venv.
# Works as root on a fresh Debian/Ubuntu machine; re-runs are quick (nothing to do).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '\033[1m[driverkit]\033[0m %s\n' "$*" >&2; }

# Debian packages the framework and the tests need: QEMU for both arches, tools for the guest,
# pci.ids for `driverkit lspci` names.
APT_PACKAGES=(qemu-system-x86 qemu-system-arm python3 python3-venv python3-pip
              busybox-static cpio gcc make pci.ids
              openssh-server openssh-client)  # sshd: the second host for the xdist-over-ssh test

apt_ensure() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        say "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
        return 1
    fi
    say "installing ${missing[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null
    }
}

python_ok() { "$1" -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

venv_ensure() {
    local py=python3
    if [ ! -x .venv/bin/python ] || ! python_ok .venv/bin/python; then
        python_ok "$py" || { say "need Python >= 3.11 with venv"; return 1; }
        say "creating .venv"
        rm -rf .venv
        "$py" -m venv .venv
    fi
    local stamp=.venv/.driverkit-installed want
    want=$(cat pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "installing driverkit and its test tools into .venv (pip)"
        .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
        .venv/bin/python -m pip install -q -e '.[test]'
        echo "$want" > "$stamp"
    fi
}

apt_ensure "${APT_PACKAGES[@]}"
venv_ensure
export PATH="$ROOT/.venv/bin:$PATH"
