#!/usr/bin/env bash
# Single-node Ceph RGW (1 mon + 1 osd on memstore + radosgw) on 127.0.0.1,
# cephx off, no mgr, no systemd: every daemon is started by hand and stopped by PID.
#   rgw.sh start DIR   -> prints `export ...` lines on stdout (progress goes to stderr)
#   rgw.sh stop DIR
# Needs (Debian 12): apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common
# plus uuid-runtime (pulled in by ceph-osd) and curl (for the readiness probe and bucket creation).
set -euo pipefail

cmd=${1:-}
DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
RGW_PORT=${RGW_PORT:-7480}
MON_V2_PORT=${MON_V2_PORT:-3300}
MON_V1_PORT=${MON_V1_PORT:-6789}
MEMSTORE_BYTES=${MEMSTORE_BYTES:-4294967296}   # capacity the OSD reports; objects live in RAM
ACCESS_KEY=${RGW_ACCESS_KEY:-dsmirrortestaccesskey}
SECRET_KEY=${RGW_SECRET_KEY:-dsmirrortestsecretkey0123456789abcdef}
BUCKET=${RGW_BUCKET:-dsmirror-test}
TIMEOUT=${RGW_START_TIMEOUT:-120}

log() { echo "[rgw.sh $(date +%T.%3N)] $*" >&2; }

# alive = exists and is not a zombie (a daemonized ceph process is reparented to PID 1, and a
# container's PID 1 may reap only every second or two; a zombie holds no ports or memory)
alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1; [ -n "$st" ] && [ "$st" != Z ]; }

stop_all() {
  local f pid
  # rgw first (it holds RADOS sessions), then osd, then mon
  for f in "$DIR"/run/client.rgw.x.pid "$DIR"/run/osd.0.pid "$DIR"/run/mon.a.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if [ -n "$pid" ] && alive "$pid"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 200); do alive "$pid" || break; sleep 0.05; done
      if alive "$pid"; then log "pid $pid still alive after 10 s, SIGKILL"; kill -9 "$pid" 2>/dev/null || true; fi
      log "stopped $(basename "$f" .pid) (pid $pid)"
    fi
    rm -f "$f"
  done
}

if [ "$cmd" = stop ]; then
  [ -d "$DIR" ] && stop_all
  exit 0
fi
[ "$cmd" = start ] || { echo "unknown command: $cmd" >&2; exit 2; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
stop_all                                  # a leftover cluster in DIR would hold the ports
rm -rf "$DIR"/{ceph.conf,monmap,mon,osd,run,log,rgw}
mkdir -p "$DIR"/{mon,osd/0,run,log,rgw}
trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed (rc=$rc), stopping what was started"; stop_all; fi' EXIT
# fail fast if a port is taken: otherwise the readiness probe may talk to the other server
# while radosgw has died on bind, and radosgw-admin then stalls 30 s on a dead watcher
for port in "$RGW_PORT" "$MON_V2_PORT" "$MON_V1_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then log "port $port on 127.0.0.1 is already in use"; exit 1; fi
done

FSID=$(uuidgen)
export CEPH_CONF=$DIR/ceph.conf         # every ceph tool below reads this, not /etc/ceph
MONADDR="[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]"

cat > "$CEPH_CONF" <<EOF
[global]
fsid = $FSID
mon host = $MONADDR
public addr = 127.0.0.1
ms bind ipv6 = false
# no cephx anywhere
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
# radosgw defaults ms_mon_client_mode to "secure", which auth=none cannot provide:
# without this it retries "get_initial_auth_request returned -13" forever and never forks
ms mon client mode = crc
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
log to stderr = false
crash dir = $DIR/log/crash
keyring = $DIR/keyring
mon data = $DIR/mon/\$id
osd data = $DIR/osd/\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 2
mon data avail crit = 1
# faster paxos turnaround: pool creation etc. are mon proposals
paxos propose interval = 0.1
paxos min wait = 0.01

[mon]
admin socket = $DIR/run/\$name.asok
[osd]
admin socket = $DIR/run/\$name.asok
[client.rgw.x]
admin socket = $DIR/run/\$name.asok
# tcp_nodelay: without it every response with a body (GET, 4xx/412 XML) waits ~40 ms (Nagle + delayed ACK)
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $DIR/rgw
EOF

t0=$(date +%s.%N)
since() { printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)"; }

# --- mon ---
monmaptool --create --clobber --fsid "$FSID" --addv a "$MONADDR" "$DIR/monmap" >"$DIR/log/monmaptool.out"
ceph-mon --mkfs -i a --monmap "$DIR/monmap"
ceph-mon -i a                             # forks; pid in run/mon.a.pid
log "mon started (+$(since) s)"

# --- osd ---
OSD_UUID=$(uuidgen)
OSD_ID=$(ceph --connect-timeout 30 osd new "$OSD_UUID")
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" 2>"$DIR/log/osd-mkfs.err" || { cat "$DIR/log/osd-mkfs.err" >&2; exit 1; }
ceph-osd -i "$OSD_ID" 2>>"$DIR/log/osd-start.err"   # forks; pid in run/osd.0.pid
log "osd.$OSD_ID started (+$(since) s)"

# --- pools: create all of rgw's pools at once (parallel commands share mon proposals), so
# neither radosgw's start nor the first CreateBucket/PutObject/CreateMultipartUpload pays ~2 s each
POOLS=".rgw.root default.rgw.log default.rgw.control default.rgw.meta default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec"
pids=()
for p in $POOLS; do ceph osd pool create "$p" 8 8 >/dev/null 2>&1 & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
pids=()
for p in $POOLS; do ceph osd pool application enable "$p" rgw >/dev/null 2>&1 & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
log "pools created (+$(since) s)"

deadline=$(( $(date +%s) + TIMEOUT ))
until ceph osd stat 2>/dev/null | grep -q ' 1 up.* 1 in'; do
  [ "$(date +%s)" -lt "$deadline" ] || { log "osd never came up"; ceph -s >&2 || true; exit 1; }
  sleep 0.2
done
log "osd up+in (+$(since) s)"

# --- rgw --- radosgw forks only after it has reached the mon and opened its pools: bound it
timeout "$TIMEOUT" radosgw -n client.rgw.x 2>>"$DIR/log/radosgw-start.err" \
  || { log "radosgw failed to start"; tail -20 "$DIR/log/client.rgw.x.log" >&2; exit 1; }
# The forked daemon writes its pid file a moment after the parent returns (seen missing under load)
until [ -s "$DIR/run/client.rgw.x.pid" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { log "radosgw wrote no pid file"; tail -20 "$DIR/log/client.rgw.x.log" >&2; exit 1; }
  sleep 0.1
done
RGW_PID=$(cat "$DIR/run/client.rgw.x.pid")
until curl -fsS -o /dev/null "http://127.0.0.1:$RGW_PORT/" 2>/dev/null; do
  alive "$RGW_PID" || { log "radosgw (pid $RGW_PID) died"; tail -20 "$DIR/log/client.rgw.x.log" >&2; exit 1; }
  [ "$(date +%s)" -lt "$deadline" ] || { log "rgw never answered"; tail -20 "$DIR/log/client.rgw.x.log" >&2; exit 1; }
  sleep 0.2
done
log "rgw answering on 127.0.0.1:$RGW_PORT (+$(since) s)"

radosgw-admin user create --uid=test --display-name=test \
  --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" >"$DIR/log/user.json"
# create the bucket with curl's own SigV4 (curl >= 7.75); RGW rejects it (403 SignatureDoesNotMatch)
# unless x-amz-content-sha256 (sha256 of the empty body) is sent and signed. Re-creating an owned bucket is a 200 on RGW
curl -fsS -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
  -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
  "http://127.0.0.1:$RGW_PORT/$BUCKET" -o "$DIR/log/bucket-create.out"
log "user + bucket $BUCKET ready (+$(since) s)"
trap - EXIT

cat <<EOF
export DSMIRROR_STORE_KIND=s3
export DSMIRROR_STORE_S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
export DSMIRROR_STORE_S3_BUCKET=$BUCKET
export DSMIRROR_STORE_S3_REGION=us-east-1
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
EOF
