// Emulated 2 nodes x 2 ranks joined by a 1 Gbit/s link (needs root and network namespaces;
// skipped with the reason otherwise): the cluster profile sees the slow link, and no namespace
// or veth is left behind after a normal run, a killed rank, or a run killed with SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "core/cluster_profile.h"
#include "executor/emulation.h"
#include "tests/profiler/test_util.h"

namespace paratune::profiler {
namespace {

using testing::bin;
using testing::run;

std::string skip_reason() {
  if (geteuid() != 0) return "needs root (network namespaces, veth, tc)";
  const std::string probe = "paratune-probe-" + std::to_string(getpid());
  testing::Run r = run("ip netns add " + probe);
  if (r.rc != 0) return "`ip netns add` failed: " + r.output;
  (void)run("ip netns del " + probe);
  return "";
}

#define SKIP_UNLESS_NETNS()                                      \
  do {                                                           \
    const std::string why = skip_reason();                       \
    if (!why.empty()) GTEST_SKIP() << why;                       \
  } while (0)

size_t left_behind(pid_t pid) {
  size_t n = 0;
  for (const std::string& ns : executor::paratune_namespaces())
    if (ns.rfind(executor::namespace_prefix(pid), 0) == 0) ++n;
  return n;
}

// Runs `paratune launch --emulate-link ...` as a child; returns (pid, exit code). With
// kill_when_up, the child gets SIGKILL as soon as its bridge and both node namespaces exist.
std::pair<pid_t, int> launch_child(const std::string& args, bool kill_when_up = false) {
  const std::string cmd = bin() + " launch --emulate-link " + args;
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), (char*)nullptr);
    _exit(127);
  }
  if (kill_when_up) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (left_behind(pid) < 3 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(pid, SIGKILL);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return {pid, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)};
}

// veth interfaces of the root namespace (the emulation must never create any there).
std::string root_veths() { return run("ip -o link show type veth | cut -d: -f2").output; }

TEST(Emulation, TwoByTwoAllreduceSeesTheGigabitLink) {
  SKIP_UNLESS_NETNS();
  const testing::TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string dir = tmp.path();
  const std::string veths = root_veths();
  std::vector<ClusterProfile> runs;
  for (int i = 0; i < 2; ++i) {
    const std::string file = dir + "/cluster" + std::to_string(i) + ".json";
    auto [pid, rc] = launch_child(
        "1gbit:200us --nnodes 2 --nproc-per-node 2 -- " + bin() + " profile-cluster -o " + file +
        " --ops allreduce --sizes 1MiB,4MiB,16MiB --repeats 7 --passes 5 --gemm-size 128 " +
        "--no-overlap --no-p2p > " + dir + "/log 2>&1");
    ASSERT_EQ(rc, 0) << run("cat " + dir + "/log").output;
    EXPECT_EQ(left_behind(pid), 0u);
    auto c = load_cluster_profile(file);
    ASSERT_TRUE(c.ok()) << c.status().message();
    runs.push_back(*c);
  }
  EXPECT_EQ(root_veths(), veths);
  // A ring over ranks 0-1-2-3 crosses the link once per direction, so its bus bandwidth is
  // what one TCP stream gets through the shaped link: 1e9 / 8 B/s on the wire, of which
  // 1448 of every 1514 bytes are payload (MTU 1500, TCP timestamps, Ethernet header).
  const double ring_bound = 1e9 / 8 * 1448 / 1514;
  std::vector<double> inter;
  for (const ClusterProfile& c : runs) {
    ASSERT_EQ(c.islands.size(), 2u);
    double intra = 0, inter4 = 0;
    for (const CollectiveFit& f : c.collectives) {
      if (f.group_size == 2 && f.placement == Placement::kIntraIsland) intra = f.bus_bandwidth.value;
      if (f.group_size == 4 && f.placement == Placement::kInterIsland) inter4 = f.bus_bandwidth.value;
    }
    EXPECT_GT(inter4, 0.75 * ring_bound);
    EXPECT_LT(inter4, 1.25 * ring_bound);
    EXPECT_GT(intra, 3 * inter4);
    std::printf("allreduce bus bandwidth: n=4 across islands %.1f MB/s (%.0f%% of the %.1f MB/s "
                "ring bound), n=2 inside an island %.1f MB/s (%.1fx)\n", inter4 / 1e6,
                100 * inter4 / ring_bound, ring_bound / 1e6, intra / 1e6, intra / inter4);
    inter.push_back(inter4);
  }
  // Two runs agree within 10%. Each keeps the median of 5 passes (the default is 3): a clean-
  // clone CI run on a noisy day measured 97.2 and 114.6 MB/s (81% and 96% of the bound) with 3,
  // the machine's slow spells lasting seconds; with 5, three passes must be slow to move one.
  // Passed with 3 in every earlier CI run.
  EXPECT_LT(std::abs(inter[0] - inter[1]), 0.1 * std::max(inter[0], inter[1]))
      << inter[0] << " vs " << inter[1] << " B/s";
}

TEST(Emulation, KilledRankLeavesNothingBehind) {
  SKIP_UNLESS_NETNS();
  const std::string veths = root_veths();
  const auto t0 = std::chrono::steady_clock::now();
  auto [pid, rc] = launch_child(
      "1gbit --nnodes 2 --nproc-per-node 2 -- sh -c 'if [ \"$RANK\" = 3 ]; then kill -9 $$; fi; "
      "sleep 60' > /dev/null 2>&1");
  EXPECT_NE(rc, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  EXPECT_EQ(left_behind(pid), 0u);
  EXPECT_EQ(root_veths(), veths);
}

TEST(Emulation, SigkilledLauncherIsCleanedUpByTheNextOne) {
  SKIP_UNLESS_NETNS();
  auto [dead, rc] = launch_child("1gbit --nnodes 2 -- sleep 30 > /dev/null 2>&1", true);
  EXPECT_EQ(rc, 128 + SIGKILL);
  EXPECT_GT(left_behind(dead), 0u);  // SIGKILL cannot clean up...
  auto [pid, rc2] = launch_child("1gbit --nnodes 2 -- true > /dev/null 2>&1");
  EXPECT_EQ(rc2, 0);
  EXPECT_EQ(left_behind(dead), 0u);  // ...the next launch does
  EXPECT_EQ(left_behind(pid), 0u);
}

TEST(Emulation, NoRootNoNamespacesClearError) {
  if (geteuid() == 0 && run("command -v setpriv").rc != 0)
    GTEST_SKIP() << "running as root without setpriv to drop privileges";
  const std::string pre = geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  testing::Run r = run(pre + bin() + " launch --emulate-link 1gbit --nnodes 2 -- true");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.output.find("needs root"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace paratune::profiler
