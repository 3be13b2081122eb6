// executor/ in one process: layouts, group lists, plan checks, data, the tracking allocator,
// the launcher, and a one-rank Trainer against the single-process reference.
#include <dirent.h>
#if defined(__GLIBC__)
#include <malloc.h>
#include <sched.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "executor/comm.h"
#include "executor/data.h"
#include "executor/launcher.h"
#include "executor/layout.h"
#include "executor/rendezvous.h"
#include "executor/trace.h"
#include "executor/tracking_allocator.h"
#include "executor/trainer.h"
#include "models/reference.h"
#include "tests/executor/plans.h"

namespace paratune::executor {
namespace {

LayerStrategy ls(int tp, int dp, bool tp_consecutive, bool sp = false) {
  LayerStrategy l;
  l.tp = tp;
  l.dp = dp;
  l.tp_consecutive = tp_consecutive;
  l.sp = sp;
  return l;
}

TEST(Layout, BlocksFollowDeviceMesh) {
  Strategy s = testing::uniform_plan(8, 1, ls(2, 4, true), 8, 16, 2);
  auto a = stage_blocks(s, ls(2, 4, true), 0);   // tp consecutive: dp rank = i / 2
  auto b = stage_blocks(s, ls(2, 4, false), 0);  // dp consecutive: dp rank = i % 4
  EXPECT_EQ(a[3].dp_rank, 1);
  EXPECT_EQ(b[3].dp_rank, 3);
  EXPECT_FALSE(same_layout(a, b));
  auto c = stage_blocks(s, ls(8, 1, true), 0);
  auto d = stage_blocks(s, ls(8, 1, false), 0);
  EXPECT_TRUE(same_layout(c, d));  // no DP, no SP: every rank holds the whole micro-batch
  auto e = stage_blocks(s, ls(4, 2, true, true), 0);
  EXPECT_EQ(e[5].seq_split, 4);
  EXPECT_EQ(e[5].seq_rank, 1);
  EXPECT_EQ(e[5].dp_rank, 1);
}

TEST(Groups, DeduplicatedAndIncludeWorldAndTiedPairs) {
  Strategy s = testing::uniform_plan(8, 2, ls(2, 2, true), 8, 16, 2);
  auto g = groups_needed(s, testing::tiny_gpt());
  std::set<std::vector<Rank>> uniq(g.begin(), g.end());
  EXPECT_EQ(uniq.size(), g.size());
  EXPECT_TRUE(uniq.count({0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(uniq.count({0, 4}));  // tied embedding pair of stage 0 and stage 1
  EXPECT_TRUE(uniq.count({4, 5}));  // a TP group of stage 1
  EXPECT_TRUE(uniq.count({5, 7}));  // a DP group of stage 1
}

TEST(CheckRunnable, RejectsBadPlansBeforeAnyGroup) {
  const ModelConfig m = testing::tiny_gpt();
  Strategy s = testing::uniform_plan(8, 1, ls(2, 4, true), 8, 16, 2);
  EXPECT_TRUE(check_runnable(s, m, 8, "s.json").ok());
  Status w = check_runnable(s, m, 4, "s.json");
  EXPECT_FALSE(w.ok());
  EXPECT_NE(w.message().find("WORLD_SIZE"), std::string::npos) << w.message();
  Strategy bad = testing::uniform_plan(8, 1, ls(8, 1, true), 8, 16, 2);
  ModelConfig m6 = m;
  m6.heads = 4;
  m6.kv_heads = 4;
  EXPECT_FALSE(check_runnable(bad, m6, 8, "s.json").ok());
  Strategy short_plan = testing::uniform_plan(8, 1, ls(2, 4, true), 6, 16, 2);
  EXPECT_FALSE(check_runnable(short_plan, m, 8, "s.json").ok());
}

TEST(Data, DeterministicBytesModVocab) {
  auto f = TokenSource::from_file(kDefaultCorpus, 64, 3);
  ASSERT_TRUE(f.ok()) << f.status().message();
  at::Tensor a = f->batch(5, 4, 17), b = f->batch(5, 4, 17), c = f->batch(6, 4, 17);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, c));
  EXPECT_LT(a.max().item<int64_t>(), 64);
  EXPECT_GE(a.min().item<int64_t>(), 0);
  auto missing = TokenSource::from_file("/nonexistent/text", 64, 3);
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/text"), std::string::npos);
  at::Tensor s = TokenSource::synthetic(64, 1).batch(0, 2, 9);
  EXPECT_EQ(s.sizes().vec(), (std::vector<int64_t>{2, 9}));
}

TEST(TrackingAllocator, CountsPeakAndEnforcesLimit) {
  install_tracking_allocator(0);
  reset_tracked_peak();
  const int64_t before = tracked_current_bytes();
  {
    at::Tensor t = at::empty({1 << 20}, at::kFloat);  // 4 MiB
    EXPECT_GE(tracked_current_bytes() - before, 4 << 20);
  }
  EXPECT_EQ(tracked_current_bytes(), before);
  EXPECT_GE(tracked_peak_bytes() - before, 4 << 20);
  set_memory_limit(before + (1 << 20));
  EXPECT_THROW(at::empty({1 << 20}, at::kFloat), OutOfMemory);
  set_memory_limit(0);
  EXPECT_EQ(tracked_current_bytes(), before);
}

TEST(TrackingAllocator, KeepsActivationSizedBlocksInTheHeap) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "keep_heap() changes glibc's malloc only";
#else
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_"))
    GTEST_SKIP() << "glibc's malloc is set from the environment; keep_heap() leaves it alone";
  install_tracking_allocator(0);
  EXPECT_TRUE(keep_heap());
  // A 24 MiB tensor (over glibc's default 128 KiB mmap threshold, under keep_heap's 32 MiB)
  // comes from the heap: no new mmapped block, and its memory is still there once freed.
  const struct mallinfo2 before = mallinfo2();
  size_t arena_live = 0;
  {
    at::Tensor t = at::empty({6 << 20}, at::kFloat);
    t.fill_(1.0f);
    const struct mallinfo2 live = mallinfo2();
    EXPECT_EQ(live.hblks, before.hblks);
    EXPECT_GE(live.uordblks, before.uordblks + (24u << 20));
    arena_live = live.arena;
  }
  const struct mallinfo2 after = mallinfo2();
  EXPECT_EQ(after.arena, arena_live) << "the heap was trimmed after the free";
#endif
}

// Spans are recorded only while tracing is on, nested waits inside a forward end first, and
// the thread's CPU time of a busy span is close to its wall time.
TEST(Trace, RecordsSpansOnlyWhenEnabled) {
  executor::trace_clear();
  executor::trace_enable(false);
  { executor::TraceScope s(executor::TraceKind::kForward, 0); }
  EXPECT_TRUE(executor::trace_events().empty());
  executor::trace_enable(true);
  executor::trace_set_rank(3);
  executor::trace_set_step(7);
  {
    executor::TraceScope f(executor::TraceKind::kForward, 1);
    { executor::TraceScope w(executor::TraceKind::kWaitAllReduce); }
    volatile double x = 0;
    for (int i = 0; i < 2000000; ++i) x = x + 1e-9 * i;
  }
  executor::trace_enable(false);
  const std::vector<executor::TraceEvent> ev = executor::trace_events();
  executor::trace_clear();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, executor::TraceKind::kWaitAllReduce);
  EXPECT_EQ(ev[1].kind, executor::TraceKind::kForward);
  EXPECT_EQ(ev[1].micro, 1);
  EXPECT_EQ(ev[1].rank, 3);
  EXPECT_EQ(ev[1].step, 7);
  EXPECT_GE(ev[0].t0_us, ev[1].t0_us);
  EXPECT_LE(ev[0].t0_us + ev[0].dur_us, ev[1].t0_us + ev[1].dur_us);
  EXPECT_GT(ev[1].thread_cpu_us, 0);
  EXPECT_LE(ev[1].thread_cpu_us, ev[1].dur_us * 1.01 + 50);
  EXPECT_GE(ev[1].process_cpu_us, ev[1].thread_cpu_us * 0.99);
}

// The summary's arithmetic on hand-made events: compute = step - waits, CPU likewise, other
// threads = process - thread CPU; steps before `from_step` are left out.
TEST(Trace, SummaryAndChromeJson) {
  using K = executor::TraceKind;
  auto ev = [](K k, int rank, int64_t step, double t0, double dur, double tcpu, double pcpu,
               int micro = -1) {
    executor::TraceEvent e;
    e.kind = k;
    e.rank = rank;
    e.step = step;
    e.t0_us = t0;
    e.dur_us = dur;
    e.thread_cpu_us = tcpu;
    e.process_cpu_us = pcpu;
    e.micro = micro;
    return e;
  };
  const std::vector<executor::TraceEvent> events = {
      ev(K::kStep, 0, 0, 1000, 99000, 1000, 1000),  // warm-up step, left out
      ev(K::kWaitRecvBackward, 1, 1, 120000, 30000, 100, 300),
      ev(K::kForward, 1, 1, 100000, 20000, 10000, 10000, 0),
      ev(K::kStep, 1, 1, 100000, 100000, 40000, 46000),
      ev(K::kWaitAllReduce, 1, 2, 250000, 10000, 0, 0),
      ev(K::kStep, 1, 2, 200000, 80000, 50000, 52000),
  };
  const std::string table = executor::summarize_trace(events, 1);
  // rank 1: step (100 + 80) / 2 = 90 ms; waits (30 + 10) / 2 = 20 -> compute 70; CPU
  // (40 + 50 - 0.1) / 2 = 44.95; wall / cpu 1.56; recv bwd 15, allreduce 5; other threads
  // ((46 - 40) + (52 - 50)) / 2 = 4.
  EXPECT_NE(table.find("    1    90.00     70.00     44.95   1.56      0.00     15.00"),
            std::string::npos) << table;
  EXPECT_NE(table.find("5.00"), std::string::npos) << table;
  EXPECT_NE(table.find("4.00\n"), std::string::npos) << table;
  EXPECT_EQ(table.find("\n    0 "), std::string::npos) << table;  // rank 0 had only step 0
  EXPECT_EQ(table.find("cpu 1 (ranks"), std::string::npos) << table;  // no CPUs given
  // Bound: rank 1 on CPU 1, process CPU (46 + 52) / 2 = 49 ms over a 90 ms step.
  const std::string bound = executor::summarize_trace(events, 1, {0, 1});
  EXPECT_NE(bound.find("cpu 1 (ranks 1): busy 54% of the step (49.00 of 90.00 ms)"),
            std::string::npos) << bound;
  EXPECT_EQ(bound.find("cpu 0 (ranks"), std::string::npos) << bound;  // rank 0: no counted step

  const auto doc = nlohmann::json::parse(executor::chrome_trace_json(events, {0, 1}, {-1, 1}));
  int spans = 0;
  bool named_cpu = false;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name" && e["tid"] == 1)
      named_cpu = e["args"]["name"] == "rank 1 (cpu 1)";
    if (e["ph"] != "X") continue;
    ++spans;
    if (e["name"] == "forward") {
      EXPECT_EQ(e["pid"], 1);  // rank 1's host
      EXPECT_DOUBLE_EQ(e["ts"].get<double>(), 99000);  // from the earliest event
      EXPECT_EQ(e["args"]["micro_batch"], 0);
      EXPECT_EQ(e["cat"], "compute");
    }
  }
  EXPECT_EQ(spans, 6);
  EXPECT_TRUE(named_cpu);
}

TEST(Launcher, RunsRanksWithTorchrunEnvironmentAndReportsFailures) {
  LaunchOptions o;
  o.nproc_per_node = 3;
  o.command = {"sh", "-c",
               "test \"$WORLD_SIZE\" = 3 && test \"$LOCAL_WORLD_SIZE\" = 3 && "
               "test \"$RANK\" = \"$LOCAL_RANK\" && test -n \"$MASTER_PORT\""};
  EXPECT_EQ(launch(o), 0);
  o.command = {"sh", "-c", "if [ \"$RANK\" = 1 ]; then exit 7; fi; sleep 30"};
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(launch(o), 7);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  o.command.clear();
  EXPECT_FALSE(o.validate().ok());
}

TEST(Launcher, SpreadsTheCpusOverTheRanks) {
  EXPECT_EQ(cpu_slice({0, 1}, 0, 4), (std::vector<int>{0}));
  EXPECT_EQ(cpu_slice({0, 1}, 3, 4), (std::vector<int>{1}));
  EXPECT_EQ(cpu_slice({0, 1, 2, 3, 4, 5, 6, 7}, 1, 4), (std::vector<int>{2, 3}));
  EXPECT_EQ(cpu_slice({0, 2, 5}, 0, 2), (std::vector<int>{0}));
  EXPECT_EQ(cpu_slice({0, 2, 5}, 1, 2), (std::vector<int>{2, 5}));
  EXPECT_TRUE(cpu_slice({}, 0, 2).empty());

  // Each rank's own affinity (/proc/self/status) is its slice of this test's allowed CPUs.
  auto parse = [](const std::string& list) {  // "0-2,5" -> {0, 1, 2, 5}
    std::vector<int> cpus;
    std::stringstream in(list);
    std::string part;
    while (std::getline(in, part, ',')) {
      const size_t dash = part.find('-');
      const int lo = std::stoi(part.substr(0, dash));
      const int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
      for (int c = lo; c <= hi; ++c) cpus.push_back(c);
    }
    return cpus;
  };
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  std::vector<int> allowed;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) allowed.push_back(c);
  const std::string dir = ::testing::TempDir() + "/paratune-bind-" + std::to_string(getpid());
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  for (bool bind : {true, false}) {
    LaunchOptions o;
    o.nproc_per_node = 3;
    o.cpu_bind = bind;
    o.command = {"sh", "-c", "grep Cpus_allowed_list /proc/self/status | cut -f2 > " + dir +
                                 "/$RANK"};
    ASSERT_EQ(launch(o), 0);
    for (int r = 0; r < 3; ++r) {
      std::ifstream f(dir + "/" + std::to_string(r));
      std::string line;
      ASSERT_TRUE(std::getline(f, line)) << "rank " << r << " wrote nothing";
      EXPECT_EQ(parse(line), bind ? cpu_slice(allowed, r, 3) : allowed)
          << "rank " << r << " bind " << bind << ": " << line;
    }
  }
  std::system(("rm -rf " + dir).c_str());
}

TEST(Launcher, BoundRanksUseTheirCpusUnboundRanksShareThem) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const int cpus = CPU_COUNT(&set);
  const char* old = std::getenv("PARATUNE_CPUS");
  const std::string saved = old ? old : "";
  unsetenv("PARATUNE_CPUS");
  EXPECT_EQ(threads_per_rank(1), cpus);
  EXPECT_EQ(threads_per_rank(2 * cpus), 1);
  EXPECT_EQ(threads_per_rank(2), std::max(1, cpus / 2));
  setenv("PARATUNE_CPUS", "0", 1);  // bound by the launcher: its own CPUs, whatever the ranks
  EXPECT_EQ(threads_per_rank(4 * cpus), cpus);
  if (old) setenv("PARATUNE_CPUS", saved.c_str(), 1);
  else unsetenv("PARATUNE_CPUS");
}

// Nice values of this process's threads (/proc/self/task/T/stat, field 19).
std::vector<int> thread_nices() {
  std::vector<int> out;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/stat");
      std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      const size_t close = all.rfind(')');  // the name may hold spaces
      if (close == std::string::npos) continue;
      std::istringstream rest(all.substr(close + 2));
      std::string field;
      for (int i = 3; i <= 19 && rest >> field; ++i)
        if (i == 19) out.push_back(std::stoi(field));
    }
    closedir(d);
  }
  return out;
}

// Gloo's event-loop thread runs at CommOptions::loop_thread_nice (19 by default), every other
// thread keeps its priority.
TEST(Comms, GlooEventLoopThreadIsNiced) {
  if (std::getenv("PARATUNE_GLOO_LOOP_NICE")) GTEST_SKIP() << "PARATUNE_GLOO_LOOP_NICE is set";
  const auto count19 = [] {
    const std::vector<int> n = thread_nices();
    return std::count(n.begin(), n.end(), 19);
  };
  const long before = count19();
  DistEnv env;
  auto store = connect_store(env, std::chrono::seconds(10));
  {
    Comms comms(store, 0, 1);
    EXPECT_EQ(count19(), before + 1);
    EXPECT_EQ(CommOptions{}.loop_thread_nice, 19);
  }
  CommOptions off;
  off.loop_thread_nice = 0;
  Comms comms(store, 0, 1, off);
  EXPECT_EQ(count19(), before) << "the first device's loop thread should be gone, none niced now";
}

TEST(Trainer, OneRankMatchesReference) {
  for (bool llama : {false, true}) {
    const ModelConfig m = llama ? testing::tiny_llama() : testing::tiny_gpt();
    LayerStrategy one;
    one.checkpoint = llama;  // covers the recompute path too
    Strategy s = testing::uniform_plan(1, 1, one, m.num_layers, 4, 2);
    DistEnv env;
    auto store = connect_store(env, std::chrono::seconds(10));
    Comms comms(store, 0, 1);
    TrainerOptions to;
    to.adam.lr = 1e-2;
    Trainer t(m, s, comms, to);
    models::ReferenceTrainer ref(m, to.seed, to.adam);
    TokenSource data = TokenSource::synthetic(m.vocab, 5);
    for (int i = 0; i < 3; ++i) {
      at::Tensor b = data.batch(i, 4, m.seq_len + 1);
      const double want = ref.step(b), got = t.step(b).loss;
      EXPECT_NEAR(got, want, 1e-5 * want) << m.name << " step " << i;
    }
  }
}

}  // namespace
}  // namespace paratune::executor
