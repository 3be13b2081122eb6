// Emulated multi-node cluster on one machine (`paratune launch --emulate-link 1gbit:200us`).
// Torch-free; needs root.
//
// Each of the K nodes gets its own network namespace "paratune-<pid>-n<k>" with an interface
// eth0 = 10.231.<x>.<k+1>/24 (x = pid % 256; the range is private and exists only inside this
// run's namespaces), joined by veth links to a bridge in a namespace "paratune-<pid>-br" of its
// own. The root namespace's interfaces are never touched. Both directions of every node's link
// are shaped with tc to the link's bandwidth (tbf); the one-way latency is added with netem on
// the node's egress when the kernel has sch_netem (otherwise a warning says it is not emulated).
// Traffic between ranks of one node stays on that namespace's loopback (unshaped): islands.
//
// Node k runs executor::launch() inside its namespace (a forked child that joined it with
// setns) with nnodes = K, node_rank = k, master_addr = node 0's address, and
// GLOO_SOCKET_IFNAME=eth0 so Gloo binds to the namespace's interface.
// Cleanup (namespaces, and with them the veths and qdiscs) runs on every exit path: normal,
// error, SIGINT/SIGTERM/SIGHUP (forwarded to the node launchers first). A run killed with
// SIGKILL leaves namespaces whose owning pid is dead: the next launch removes them.
//
//   LinkSpec l = *parse_link("1gbit:200us");
//   LaunchOptions o; o.nnodes = 2; o.nproc_per_node = 2; o.command = {...};
//   int rc = launch_emulated(o, l);
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "executor/launcher.h"

namespace paratune::executor {

struct LinkSpec {
  double bits_per_s = 1e9;  // link bandwidth per direction (default 1 Gbit/s)
  double latency_us = 0;    // one-way latency added to every inter-node packet (default 0)
};

/// "<rate>[:<latency>]": rate with unit bit|kbit|mbit|gbit (or bps, kbps, mbps, gbps = bytes/s),
/// latency with unit us|ms|s. E.g. "1gbit:200us", "100mbit:1ms", "10gbit".
StatusOr<LinkSpec> parse_link(const std::string& text);
/// Prefix of every namespace a launch with this pid creates: "paratune-<pid>-".
std::string namespace_prefix(int pid);
/// Namespaces named "paratune-<pid>-..." currently present (`ip netns list`).
std::vector<std::string> paratune_namespaces();
/// Deletes namespaces of dead owners; returns how many were removed.
int cleanup_stale_namespaces();
/// Runs o.nnodes emulated nodes of o.nproc_per_node ranks (o.node_rank and o.master_addr are
/// ignored; o.master_port 0 picks 29500). Returns the launcher's exit code; 2 with a clear
/// message when not root or namespaces cannot be created.
int launch_emulated(const LaunchOptions& o, const LinkSpec& link);

}  // namespace paratune::executor
