#include "executor/emulation.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace paratune::executor {

namespace {

volatile sig_atomic_t g_emu_signal = 0;
void on_emu_signal(int sig) { g_emu_signal = sig; }

struct ShellResult {
  int rc = -1;
  std::string output;
};

// Runs a fixed command line (our own namespace and interface names only) with 2>&1.
ShellResult sh(const std::string& cmd) {
  ShellResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) r.output += buf;
  const int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
  return r;
}

bool parse_number_unit(const std::string& s, double* value, std::string* unit) {
  char* end = nullptr;
  *value = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !std::isfinite(*value) || *value < 0) return false;
  *unit = end;
  for (char& c : *unit) c = char(std::tolower(static_cast<unsigned char>(c)));
  return true;
}

// Deletes every namespace of the run; the veths and qdiscs inside go with them.
struct Namespaces {
  std::vector<std::string> names;
  ~Namespaces() { remove(); }
  void remove() {
    for (auto it = names.rbegin(); it != names.rend(); ++it) (void)sh("ip netns del " + *it);
    names.clear();
  }
};

std::string node_addr(int x, int k) {
  return "10.231." + std::to_string(x) + "." + std::to_string(k + 1);
}

}  // namespace

StatusOr<LinkSpec> parse_link(const std::string& text) {
  const std::string bad = "--emulate-link \"" + text + "\": ";
  const size_t colon = text.find(':');
  const std::string rate = text.substr(0, colon);
  LinkSpec l;
  double v;
  std::string unit;
  if (!parse_number_unit(rate, &v, &unit) || v <= 0)
    return InvalidArgument(bad + "expected <rate>[:<latency>], e.g. 1gbit:200us");
  const struct { const char* u; double bits; } rates[] = {
      {"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"bps", 8},
      {"kbps", 8e3}, {"mbps", 8e6}, {"gbps", 8e9}};
  bool ok = false;
  for (const auto& r : rates)
    if (unit == r.u) l.bits_per_s = v * r.bits, ok = true;
  if (!ok) return InvalidArgument(bad + "rate unit must be bit, kbit, mbit, gbit (or bps .. gbps)");
  if (colon != std::string::npos) {
    if (!parse_number_unit(text.substr(colon + 1), &v, &unit))
      return InvalidArgument(bad + "latency must be a number with us, ms or s");
    if (unit == "us") l.latency_us = v;
    else if (unit == "ms") l.latency_us = v * 1e3;
    else if (unit == "s") l.latency_us = v * 1e6;
    else return InvalidArgument(bad + "latency unit must be us, ms or s");
  }
  if (l.bits_per_s < 8e3) return InvalidArgument(bad + "rate must be at least 8kbit");
  return l;
}

std::string namespace_prefix(int pid) { return "paratune-" + std::to_string(pid) + "-"; }

std::vector<std::string> paratune_namespaces() {
  std::vector<std::string> out;
  ShellResult r = sh("ip netns list");
  if (r.rc != 0) return out;
  size_t pos = 0;
  while (pos < r.output.size()) {
    size_t eol = r.output.find('\n', pos);
    if (eol == std::string::npos) eol = r.output.size();
    std::string line = r.output.substr(pos, eol - pos);
    pos = eol + 1;
    line = line.substr(0, line.find(' '));  // "name (id: 3)"
    if (line.rfind("paratune-", 0) == 0) out.push_back(line);
  }
  return out;
}

int cleanup_stale_namespaces() {
  int removed = 0;
  for (const std::string& n : paratune_namespaces()) {
    const long pid = std::strtol(n.c_str() + 9, nullptr, 10);
    if (pid <= 0) continue;
    if (kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // owner alive
    if (sh("ip netns del " + n).rc == 0) ++removed;
  }
  return removed;
}

int launch_emulated(const LaunchOptions& o, const LinkSpec& link) {
  const char* me = "paratune launch --emulate-link";
  const int port = o.master_port > 0 ? o.master_port : 29500;
  LaunchOptions probe = o;
  probe.master_port = port;
  probe.node_rank = 0;
  Status valid = probe.validate();
  if (!valid.ok()) {
    std::fprintf(stderr, "%s: %s\n", me, valid.message().c_str());
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "%s: needs root (it creates network namespaces, veth links and tc "
                 "qdiscs); run as root, or without --emulate-link\n", me);
    return 2;
  }
  if (o.nnodes < 2 || o.nnodes > 250) {
    std::fprintf(stderr, "%s: --nnodes must be in [2, 250], got %d\n", me, o.nnodes);
    return 2;
  }
  const int stale = cleanup_stale_namespaces();
  if (stale) std::fprintf(stderr, "%s: removed %d namespace(s) left by dead runs\n", me, stale);

  struct sigaction sa {}, old_int {}, old_term {}, old_hup {};
  sa.sa_handler = on_emu_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGHUP, &sa, &old_hup);
  auto restore = [&] {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
  };

  const int pid = int(getpid()), x = pid % 256;
  const std::string prefix = namespace_prefix(pid), br = prefix + "br";
  Namespaces ns;
  auto step = [&](const std::string& cmd) -> bool {
    ShellResult r = sh(cmd);
    if (r.rc != 0) std::fprintf(stderr, "%s: `%s` failed: %s\n", me, cmd.c_str(), r.output.c_str());
    return r.rc == 0;
  };
  // Setup: bridge namespace, one namespace per node, veth pairs, addresses, shaping.
  char rate[64], burst[64];
  std::snprintf(rate, sizeof rate, "%.0fbit", link.bits_per_s);
  // Bucket: 2 ms of traffic, at least 64 KiB (a GSO segment must fit).
  std::snprintf(burst, sizeof burst, "%.0f", std::max(65536.0 * 2, link.bits_per_s / 8 * 2e-3));
  const std::string tbf = std::string("tbf rate ") + rate + " burst " + burst + " latency 100ms";
  bool ok = step("ip netns add " + br);
  if (ok) ns.names.push_back(br);
  ok = ok && step("ip -n " + br + " link set lo up") &&
       step("ip -n " + br + " link add br0 type bridge") &&
       step("ip -n " + br + " link set br0 up");
  bool netem = link.latency_us > 0;
  for (int k = 0; ok && k < o.nnodes; ++k) {
    const std::string n = prefix + "n" + std::to_string(k), v = "n" + std::to_string(k);
    ok = step("ip netns add " + n);
    if (!ok) break;
    ns.names.push_back(n);
    ok = step("ip -n " + n + " link set lo up") &&
         step("ip -n " + br + " link add " + v + " type veth peer name eth0 netns " + n) &&
         step("ip -n " + br + " link set " + v + " master br0 up") &&
         step("ip -n " + n + " addr add " + node_addr(x, k) + "/24 dev eth0") &&
         step("ip -n " + n + " link set eth0 up") &&
         step("tc -n " + br + " qdisc add dev " + v + " root " + tbf);
    if (!ok) break;
    if (netem) {
      char delay[64];
      std::snprintf(delay, sizeof delay, "%.0fus", link.latency_us);
      ShellResult r = sh("tc -n " + n + " qdisc add dev eth0 root handle 1: netem delay " +
                         delay + " limit 100000");
      if (r.rc == 0) {
        ok = step("tc -n " + n + " qdisc add dev eth0 parent 1:1 handle 10: " + tbf);
        continue;
      }
      netem = false;
      std::fprintf(stderr, "%s: warning: this kernel has no netem qdisc (%s): latency %s is NOT "
                   "emulated, only the bandwidth\n", me, r.output.c_str(), delay);
    }
    ok = step("tc -n " + n + " qdisc add dev eth0 root " + tbf);
  }
  if (!ok || g_emu_signal) {
    if (!ok)
      std::fprintf(stderr, "%s: could not set up the emulated network (network namespaces "
                   "unavailable?); nothing is left behind\n", me);
    ns.remove();
    restore();
    return ok ? 128 + int(g_emu_signal) : 2;
  }
  std::fprintf(stderr, "%s: %d nodes x %d ranks in namespaces %s*, link %.3g Gbit/s, %.0f us\n",
               me, o.nnodes, o.nproc_per_node, prefix.c_str(), link.bits_per_s / 1e9,
               netem ? link.latency_us : 0.0);

  // One launcher per node, each inside its namespace.
  std::vector<pid_t> kids;
  for (int k = 0; k < o.nnodes; ++k) {
    const std::string path = "/var/run/netns/" + prefix + "n" + std::to_string(k);
    const pid_t c = fork();
    if (c == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGHUP, SIG_DFL);
      const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        std::fprintf(stderr, "%s: joining %s failed: %s\n", me, path.c_str(), std::strerror(errno));
        _exit(2);
      }
      close(fd);
      // The node's hostname is its address, in a UTS namespace of its own: c10d's default Gloo
      // device binds to what the hostname resolves to (a numeric name resolves to itself), as
      // on a real node. GLOO_SOCKET_IFNAME is for Python torch programs run by this launcher.
      const std::string addr = node_addr(x, k);
      if (unshare(CLONE_NEWUTS) != 0 || sethostname(addr.c_str(), addr.size()) != 0) {
        std::fprintf(stderr, "%s: node %d: setting hostname %s failed: %s\n", me, k, addr.c_str(),
                     std::strerror(errno));
        _exit(2);
      }
      setenv("GLOO_SOCKET_IFNAME", "eth0", 1);
      LaunchOptions n = o;
      n.node_rank = k;
      n.master_addr = node_addr(x, 0);
      n.master_port = port;
      n.bind_global = true;  // the nodes share this machine's CPUs
      _exit(launch(n));
    }
    if (c > 0) kids.push_back(c);
  }

  // Wait; the first failure (or a signal) stops the other nodes.
  int rc = kids.size() == size_t(o.nnodes) ? 0 : 2;
  std::vector<bool> alive(kids.size(), true);
  size_t running = kids.size();
  bool stopping = rc != 0;
  auto stop_all = [&](int sig) {
    for (size_t i = 0; i < kids.size(); ++i)
      if (alive[i]) kill(kids[i], sig);
  };
  if (stopping) stop_all(SIGTERM);
  auto stop_time = std::chrono::steady_clock::now();
  int forwarded = 0;
  while (running > 0) {
    if (g_emu_signal && g_emu_signal != forwarded) {
      forwarded = g_emu_signal;
      stop_all(forwarded);
      if (rc == 0) rc = 128 + forwarded;
      if (!stopping) stopping = true, stop_time = std::chrono::steady_clock::now();
    }
    for (size_t i = 0; i < kids.size(); ++i) {
      if (!alive[i]) continue;
      int st = 0;
      if (waitpid(kids[i], &st, WNOHANG) != kids[i]) continue;
      alive[i] = false;
      --running;
      const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      if (code != 0 && rc == 0) {
        rc = code;
        std::fprintf(stderr, "%s: node %zu exited with code %d; stopping the other nodes\n", me,
                     i, code);
      }
      if (code != 0 && !stopping) {
        stopping = true;
        stop_time = std::chrono::steady_clock::now();
        stop_all(SIGTERM);
      }
    }
    if (stopping && std::chrono::steady_clock::now() - stop_time >
                        std::chrono::milliseconds(o.kill_grace_ms + 5000))
      stop_all(SIGKILL);
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ns.remove();
  restore();
  return rc;
}

}  // namespace paratune::executor
