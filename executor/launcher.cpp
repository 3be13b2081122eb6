#include "executor/launcher.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>

namespace paratune::executor {

namespace {

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

struct Child {
  int local = 0, rank = 0;
  pid_t pid = -1;
  int out_fd = -1, err_fd = -1;
  std::string out_buf, err_buf;
  bool running = false;
};

void emit(FILE* stream, int rank, std::string& buf, bool flush_all) {
  size_t pos;
  while ((pos = buf.find('\n')) != std::string::npos) {
    std::fprintf(stream, "[rank %d] %s\n", rank, buf.substr(0, pos).c_str());
    buf.erase(0, pos + 1);
  }
  if (flush_all && !buf.empty()) {
    std::fprintf(stream, "[rank %d] %s\n", rank, buf.c_str());
    buf.clear();
  }
  std::fflush(stream);
}

bool drain(int& fd, std::string& buf) {  // false at EOF
  if (fd < 0) return false;
  char tmp[4096];
  ssize_t n = read(fd, tmp, sizeof tmp);
  if (n > 0) {
    buf.append(tmp, size_t(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  close(fd);
  fd = -1;
  return false;
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string s;
  for (int c : cpus) s += (s.empty() ? "" : ",") + std::to_string(c);
  return s;
}

pid_t spawn(const LaunchOptions& o, Child& c, int port, int world, const std::vector<int>& cpus) {
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]); close(out[1]); close(err[0]); close(err[1]);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (!cpus.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      for (int cpu : cpus) CPU_SET(cpu, &set);
      if (sched_setaffinity(0, sizeof set, &set) == 0) {
        setenv("PARATUNE_CPUS", cpu_list(cpus).c_str(), 1);
      } else {
        std::fprintf(stderr, "paratune launch: rank %d: binding to CPUs %s failed: %s\n", c.rank,
                     cpu_list(cpus).c_str(), std::strerror(errno));
        unsetenv("PARATUNE_CPUS");
      }
    } else {
      unsetenv("PARATUNE_CPUS");  // not an outer launcher's binding
    }
    const std::map<std::string, std::string> env = {
        {"MASTER_ADDR", o.master_addr}, {"MASTER_PORT", std::to_string(port)},
        {"RANK", std::to_string(c.rank)}, {"WORLD_SIZE", std::to_string(world)},
        {"LOCAL_RANK", std::to_string(c.local)},
        {"LOCAL_WORLD_SIZE", std::to_string(o.nproc_per_node)},
        {"GROUP_RANK", std::to_string(o.node_rank)}, {"NODE_RANK", std::to_string(o.node_rank)}};
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "paratune launch: cannot execute %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  c.out_fd = out[0];
  c.err_fd = err[0];
  fcntl(c.out_fd, F_SETFL, O_NONBLOCK);
  fcntl(c.err_fd, F_SETFL, O_NONBLOCK);
  return pid;
}

}  // namespace

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

Status LaunchOptions::validate() const {
  if (nproc_per_node < 1) return InvalidArgument("--nproc-per-node must be >= 1");
  if (nnodes < 1) return InvalidArgument("--nnodes must be >= 1");
  if (node_rank < 0 || node_rank >= nnodes)
    return InvalidArgument("--node-rank must be in [0, --nnodes)");
  if (master_port < 0 || master_port > 65535) return InvalidArgument("--master-port out of range");
  if (nnodes > 1 && master_port == 0)
    return InvalidArgument("--master-port is required with --nnodes > 1");
  if (command.empty()) return InvalidArgument("no command to launch (paratune launch ... -- CMD)");
  return Status::Ok();
}

std::vector<int> cpu_slice(const std::vector<int>& allowed, int slot, int slots) {
  const int n = int(allowed.size());
  if (n == 0 || slots < 1 || slot < 0) return {};
  if (n < slots) return {allowed[size_t(slot % n)]};
  const int lo = int(int64_t(slot) * n / slots), hi = int(int64_t(slot + 1) * n / slots);
  return std::vector<int>(allowed.begin() + lo, allowed.begin() + hi);
}

int pick_free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

int launch(const LaunchOptions& o) {
  const int port = o.master_port ? o.master_port : pick_free_port();
  const int world = o.nnodes * o.nproc_per_node;
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<Child> kids(o.nproc_per_node);
  const std::vector<int> allowed = o.cpu_bind ? allowed_cpus() : std::vector<int>{};
  std::string bound;
  for (int i = 0; i < o.nproc_per_node; ++i) {
    kids[i].local = i;
    kids[i].rank = o.node_rank * o.nproc_per_node + i;
    const std::vector<int> cpus = o.bind_global ? cpu_slice(allowed, kids[i].rank, world)
                                                : cpu_slice(allowed, i, o.nproc_per_node);
    if (!cpus.empty()) bound += " " + std::to_string(kids[i].rank) + ":" + cpu_list(cpus);
    kids[i].pid = spawn(o, kids[i], port, world, cpus);
    kids[i].running = kids[i].pid > 0;
  }
  if (!bound.empty())
    std::fprintf(stderr, "paratune launch: ranks bound to CPUs (rank:cpus)%s; --cpu-bind none "
                 "lets the scheduler place them\n", bound.c_str());
  int exit_code = 0;
  bool stopping = false;
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  auto stop_all = [&](int sig) {
    for (Child& c : kids)
      if (c.running) kill(-c.pid, sig);
  };
  int forwarded = 0;
  auto all_exited = std::chrono::steady_clock::time_point::max();
  while (true) {
    if (g_signal && g_signal != forwarded) {
      forwarded = g_signal;
      std::fprintf(stderr, "paratune launch: forwarding signal %d to the ranks\n", forwarded);
      stop_all(forwarded);
      if (!stopping) {
        stopping = true;
        exit_code = 128 + forwarded;
        stop_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.kill_grace_ms);
      }
    }
    std::vector<pollfd> fds;
    std::vector<std::pair<Child*, bool>> who;
    for (Child& c : kids) {
      if (c.out_fd >= 0) { fds.push_back({c.out_fd, POLLIN, 0}); who.push_back({&c, false}); }
      if (c.err_fd >= 0) { fds.push_back({c.err_fd, POLLIN, 0}); who.push_back({&c, true}); }
    }
    if (!fds.empty()) poll(fds.data(), fds.size(), 100);
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Child& c = *who[i].first;
      if (who[i].second) { drain(c.err_fd, c.err_buf); emit(stderr, c.rank, c.err_buf, c.err_fd < 0); }
      else { drain(c.out_fd, c.out_buf); emit(stdout, c.rank, c.out_buf, c.out_fd < 0); }
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (Child& c : kids) {
        if (c.pid != pid || !c.running) continue;
        c.running = false;
        const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (failed && !stopping) {
          if (WIFSIGNALED(status))
            std::fprintf(stderr, "paratune launch: rank %d (pid %d) was killed by signal %d (%s); "
                         "stopping the other ranks\n", c.rank, pid, WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
          else
            std::fprintf(stderr, "paratune launch: rank %d (pid %d) exited with code %d; "
                         "stopping the other ranks\n", c.rank, pid, WEXITSTATUS(status));
          exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          stopping = true;
          stop_all(SIGTERM);
          stop_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.kill_grace_ms);
        }
      }
    }
    bool any = false;
    for (Child& c : kids) any = any || c.running;
    if (stopping && any && std::chrono::steady_clock::now() > stop_deadline) {
      stop_all(SIGKILL);
      stop_deadline = std::chrono::steady_clock::time_point::max();
    }
    bool open = false;
    for (Child& c : kids) open = open || c.out_fd >= 0 || c.err_fd >= 0;
    if (!any && !open) break;
    if (!any && open) {  // a grandchild may hold a pipe open: give it 2 s, then stop reading
      const auto now = std::chrono::steady_clock::now();
      if (all_exited == std::chrono::steady_clock::time_point::max()) all_exited = now;
      if (now - all_exited > std::chrono::seconds(2)) {
        for (Child& c : kids) {
          emit(stdout, c.rank, c.out_buf, true);
          emit(stderr, c.rank, c.err_buf, true);
          if (c.out_fd >= 0) close(c.out_fd);
          if (c.err_fd >= 0) close(c.err_fd);
          c.out_fd = c.err_fd = -1;
        }
        break;
      }
    }
  }
  if (exit_code == 0) return 0;
  return exit_code;
}

}  // namespace paratune::executor
