package node

// ExampleConfig is what `tocsin config init` writes: every option, its
// default, and what it does. `tocsin config check` must accept it (a test
// makes sure). Keep it in step with Config.
const ExampleConfig = `# Tocsin device configuration. Every option is shown with its default;
# uncomment and change what you need. Relative paths are relative to this file.
# Environment variables override options: TOCSIN_<OPTION> in upper case,
# e.g. TOCSIN_LOG_LEVEL=debug, TOCSIN_BOOTSTRAP=/ip4/10.0.0.1/tcp/4001/p2p/12D3...,a2
# (lists are comma-separated). Check a file with: tocsin config check FILE

role: device                  # device, or seed (a supplier's seed node)
data_dir: /var/lib/tocsin     # badger store, verified files, status.json, control.sock
# identity_key: ""            # default <data_dir>/identity.key, created (0600) on first start
listen:                       # libp2p listen addresses
  - /ip4/0.0.0.0/tcp/4001
  - /ip4/0.0.0.0/udp/4001/quic-v1
bootstrap: []                 # peers to stay connected to: /ip4/.../tcp/4001/p2p/<peer id>
trust_root: root.json         # REQUIRED: the supplier's signed trust root (tocsin root init)
# hardware: ""                # this device's hardware id; releases for other hardware are never fetched

products:                     # what this device runs
  - id: acme-plc-fw
    version: 1.0.0
    # file: /opt/firmware/current.bin   # the running image; lets a delta rebuild the next version

installer:
  command: ["/usr/lib/tocsin/install.sh"]   # REQUIRED on devices; gets TOCSIN_FILE, TOCSIN_VERSION, ...
  # health_check: []          # run after a successful install; non-zero = roll back, count as failed
  # rollback: []              # run on a failed health check or a recall; gets TOCSIN_ROLLBACK_TO
  timeout: 10m                # for each of the three commands

# The asset owner's side (see policy/testdata/owner-policy.yaml):
# policy: owner-policy.yaml   # operator keys, zones, groups, windows, auto rules, rollout; empty = authorise on receipt
# group: ""                   # this device's group in the policy (required with policy)
# roster: roster.json         # the owner's signed fleet roster (needs policy)
# admission: open             # enrolled (default with a roster) or open

# Discovery and limits:
# private_network: ""         # swarm.key file; with it the node speaks TCP only
mdns: false                   # find peers on the local network segment
dht: false                    # the fleet's Kademlia DHT, seeded by the bootstrap peers
peers:
  low: 16                     # connection manager watermarks
  high: 32
max_memory: 256MiB            # libp2p resource manager memory cap
max_conns: 256
max_release_size: 4GiB        # larger releases are refused before any block is fetched
max_upload_rate: ""           # e.g. 1MiB/s; empty = no cap
uplink_rate: ""               # the link's upload rate, e.g. 2.5MB/s: swarm uploads are paced to it; empty = not paced
max_download_rate: ""         # e.g. 2MiB/s; empty = no cap
sync_interval: 30s            # ask neighbours for missing documents this often
stall_timeout: 3s             # a fetch round with no block for this long is asked again of every peer
transfer: swarm               # swarm (Tocsin's piece exchange, bitswap when it stalls) or bitswap; both are always served
log_level: info               # debug, info, warn, error

# seed:                       # role seed only
#   heartbeat_key: ""         # the heartbeat role's key; empty = send no heartbeats
#   heartbeat_interval: 1m
#   heartbeat_ttl: 15m
# super_seed_interval: 2s     # seeds: hand each block to one more peer per interval; 0s = off
`
