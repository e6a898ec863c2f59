#!/usr/bin/env bash
# registry.sh start|stop|env DIR — a real TLS + htpasswd-protected image
# registry (Debian's docker-registry, i.e. distribution 2.x) for push/pull
# tests without network access. `start` creates in DIR a test CA, a server
# cert (SANs localhost, ip6-localhost, 127.0.0.1, ::1), a random password for
# user `builder` (DIR/password, 0600), DIR/htpasswd (bcrypt), DIR/certs.d/ca.crt
# (for --cert-dir), DIR/auth.json (0600), then runs two registries: IPv4 on
# 127.0.0.1:$REGISTRY_V4_PORT (5000) and IPv6 on [::1]:$REGISTRY_V6_PORT (5001),
# reached as ip6-localhost because buildah/skopeo reject IPv6 literals in image
# references. `env` prints the export lines for tests; `stop` stops both.
# Idempotent: existing key material and running registries are reused.
set -euo pipefail

cmd=${1:-} dir=${2:-}
[[ $cmd =~ ^(start|stop|env)$ && -n $dir ]] || { echo "usage: $0 start|stop|env DIR" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
exec 9>"$dir/.lock"
flock 9 # one start/stop at a time per DIR
v4_port=${REGISTRY_V4_PORT:-5000} v6_port=${REGISTRY_V6_PORT:-5001}
user=builder
# instance name, listen address, host name clients use
instances=("v4 127.0.0.1:$v4_port localhost:$v4_port" "v6 [::1]:$v6_port ip6-localhost:$v6_port")

alive() { [[ -s $dir/$1.pid ]] && grep -q docker-registry "/proc/$(cat "$dir/$1.pid")/cmdline" 2>/dev/null; }

make_secrets() {
  umask 077
  cd "$dir"
  if ! openssl x509 -checkend 86400 -noout -in ca.crt &>/dev/null; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout ca.key -out ca.crt \
      -subj "/CN=buildrunner test CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    rm -f server.crt
  fi
  if ! openssl x509 -checkend 86400 -noout -in server.crt &>/dev/null; then
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -out server.crt \
      -extfile <(printf '%s\n' "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" \
        "subjectAltName=DNS:localhost,DNS:ip6-localhost,IP:127.0.0.1,IP:::1") 2>/dev/null
    rm -f server.csr
  fi
  [[ -s password ]] || openssl rand -hex 16 >password
  htpasswd -Bin "$user" <password >htpasswd.new 2>/dev/null && mv htpasswd.new htpasswd
  mkdir -p certs.d && cp ca.crt certs.d/ca.crt
  local auth entries=()
  auth=$(printf '%s:%s' "$user" "$(<password)" | base64 -w0)
  for inst in "${instances[@]}"; do
    read -r _ _ host <<<"$inst"
    entries+=("\"$host\":{\"auth\":\"$auth\"}")
  done
  (IFS=,; printf '{"auths":{%s}}\n' "${entries[*]}") >auth.json
  chmod 0755 certs.d && chmod 0644 ca.crt certs.d/ca.crt
}

ensure_ip6_localhost() {
  getent ahostsv6 ip6-localhost 2>/dev/null | grep -q '^::1 ' && return
  [[ -w /etc/hosts ]] || { echo "registry: add '::1 ip6-localhost ip6-loopback' to /etc/hosts" >&2; exit 1; }
  echo "::1 ip6-localhost ip6-loopback" >>/etc/hosts
}

start_one() {
  local name=$1 addr=$2 host=$3
  alive "$name" && return
  mkdir -p "$dir/storage-$name"
  cat >"$dir/config-$name.yml" <<YML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $dir/storage-$name}
  delete: {enabled: true}
http:
  addr: "$addr"
  tls: {certificate: $dir/server.crt, key: $dir/server.key}
auth:
  htpasswd: {realm: buildrunner-test, path: $dir/htpasswd}
YML
  # Clean environment: docker-registry reads REGISTRY_* variables as config.
  setsid env -i PATH="$PATH" docker-registry serve "$dir/config-$name.yml" \
    >>"$dir/registry-$name.log" 2>&1 </dev/null 9>&- &  # 9>&-: the daemon must not hold our lock
  echo $! >"$dir/$name.pid"
  for _ in $(seq 50); do
    # 401 through TLS verified by our CA proves it is our registry, up and protected.
    [[ $(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.crt" "https://$host/v2/") == 401 ]] && return
    alive "$name" || break
    sleep 0.2
  done
  echo "registry: $name on $addr did not come up; log:" >&2
  tail -n 20 "$dir/registry-$name.log" >&2
  exit 1
}

case $cmd in
  start)
    ensure_ip6_localhost
    (make_secrets)
    for inst in "${instances[@]}"; do
      read -r name addr host <<<"$inst"
      start_one "$name" "$addr" "$host"
    done
    echo "registry: up at localhost:$v4_port and ip6-localhost:$v6_port (state in $dir)"
    ;;
  stop)
    for inst in "${instances[@]}"; do
      read -r name _ <<<"$inst"
      if alive "$name"; then
        pid=$(<"$dir/$name.pid")
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -f "$dir/$name.pid"
    done
    ;;
  env)
    cat <<ENV
export REGISTRY_V4=localhost:$v4_port
export REGISTRY_V6=ip6-localhost:$v6_port
export REGISTRY_CERT_DIR=$dir/certs.d
export REGISTRY_AUTH_FILE=$dir/auth.json
export REGISTRY_USER=$user
export REGISTRY_PASSWORD_FILE=$dir/password
ENV
    ;;
esac
