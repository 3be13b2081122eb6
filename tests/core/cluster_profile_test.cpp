// cluster.json: round trip, helpers, fingerprint, and every kind of bad input.
#include "core/cluster_profile.h"

#include <limits>

#include <gtest/gtest.h>

#include "tests/core/core_test_util.h"

namespace paratune {
namespace {

using testing_util::error_contains;
using testing_util::write_temp;

CollectiveFit fit(CollectiveOp op, int n, Placement p, bool consecutive, double lat_ms,
                  double bw) {
  CollectiveFit f;
  f.op = op;
  f.group_size = n;
  f.placement = p;
  f.consecutive = consecutive;
  f.latency = Milliseconds(lat_ms);
  f.bus_bandwidth = BytesPerSecond(bw);
  return f;
}

/// Two islands of four devices.
ClusterProfile two_nodes() {
  ClusterProfile c;
  c.name = "test-2x4";
  c.source = "measured";
  c.note = "hand-written for tests";
  c.device = DeviceSpec{"cpu", Bytes(16.0 * kGiB), FlopsPerSecond(1.25e11), BytesPerSecond(2e10),
                        std::nullopt};
  c.islands = {Island{"node0", 4}, Island{"node1", 4}};
  CollectiveFit ar = fit(CollectiveOp::kAllReduce, 4, Placement::kIntraIsland, true, 0.05, 1.2e9);
  ar.samples = {CommSample{Bytes(1 << 20), Milliseconds(1.5)},
                CommSample{Bytes(1 << 24), Milliseconds(21.25)}};
  c.collectives = {ar,
                   fit(CollectiveOp::kAllGather, 2, Placement::kIntraIsland, false, 0.03, 1.1e9),
                   fit(CollectiveOp::kReduceScatter, 8, Placement::kInterIsland, true, 0.5, 1.1e8),
                   fit(CollectiveOp::kAllToAll, 8, Placement::kInterIsland, true, 0.5, 1e8)};
  P2pFit intra;
  intra.latency = Milliseconds(0.02);
  intra.bandwidth = BytesPerSecond(2e9);
  intra.samples = {CommSample{Bytes(4096), Milliseconds(0.021)}};
  P2pFit inter;
  inter.placement = Placement::kInterIsland;
  inter.latency = Milliseconds(0.2);
  inter.bandwidth = BytesPerSecond(1.14e8);
  c.p2p = {intra, inter};
  c.overlap = OverlapCoefficients{1.3, 1.1};
  return c;
}

Status parse(const Json& j) { return cluster_profile_from_json(j, "cluster.json").status(); }

TEST(ClusterProfile, RoundTrip) {
  const ClusterProfile c = two_nodes();
  ASSERT_TRUE(validate(c, "mem").ok()) << validate(c, "mem").message();
  StatusOr<ClusterProfile> back = cluster_profile_from_json(to_json(c), "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, c);
  const std::string path = write_temp("cluster.json", dump_json(to_json(c)));
  StatusOr<ClusterProfile> loaded = load_cluster_profile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(*loaded, c);
  EXPECT_EQ(dump_json(to_json(*loaded)), dump_json(to_json(c)));
}

TEST(ClusterProfile, OptionalRuntimeBuffer) {
  ClusterProfile c = two_nodes();
  EXPECT_FALSE(to_json(c)["device"].contains("runtime_buffer_bytes"));  // absent unless set
  c.device.runtime_buffer = Bytes(0);
  Json j = to_json(c);
  EXPECT_EQ(j["device"]["runtime_buffer_bytes"], 0.0);
  StatusOr<ClusterProfile> back = cluster_profile_from_json(j, "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_TRUE(back->device.runtime_buffer.has_value());
  EXPECT_EQ(back->device.runtime_buffer->value, 0.0);
  EXPECT_EQ(*back, c);
  j["device"]["runtime_buffer_bytes"] = -1.0;
  EXPECT_TRUE(error_contains(parse(j), "device.runtime_buffer_bytes"));
}

TEST(ClusterProfile, OptionalHandoffFraction) {
  ClusterProfile c = two_nodes();
  const std::string before = fingerprint(c);
  EXPECT_FALSE(to_json(c)["p2p"][0].contains("handoff_fraction"));  // absent unless measured
  c.p2p[0].handoff_fraction = 0.75;
  Json j = to_json(c);
  EXPECT_EQ(j["p2p"][0]["handoff_fraction"], 0.75);
  EXPECT_FALSE(j["p2p"][1].contains("handoff_fraction"));
  StatusOr<ClusterProfile> back = cluster_profile_from_json(j, "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, c);
  EXPECT_EQ(back->p2p[1].handoff_fraction, 0.0);
  EXPECT_NE(fingerprint(c), before);  // it changes the pipeline model
  j["p2p"][0]["handoff_fraction"] = -0.1;
  EXPECT_TRUE(error_contains(parse(j), "p2p[0].handoff_fraction"));
  j["p2p"][0]["handoff_fraction"] = "much";
  EXPECT_TRUE(error_contains(parse(j), "handoff_fraction"));
}

TEST(ClusterProfile, OptionalHostSharing) {
  ClusterProfile c = two_nodes();
  const std::string before = fingerprint(c);
  EXPECT_FALSE(to_json(c).contains("host_sharing"));  // absent unless measured
  EXPECT_FALSE(c.host_sharing.shared());
  c.host_sharing = HostSharing{8, 2.25};
  EXPECT_TRUE(c.host_sharing.shared());
  Json j = to_json(c);
  EXPECT_EQ(j["host_sharing"].dump(), R"({"ranks_per_host":8,"compute_slowdown":2.25})");
  StatusOr<ClusterProfile> back = cluster_profile_from_json(j, "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, c);
  EXPECT_NE(fingerprint(c), before);  // it changes the time model, so the fingerprint
  // The CPU per call: written when measured, read back, never negative.
  c.host_sharing.call_cpu_ms = 0.25;
  j = to_json(c);
  EXPECT_EQ(j["host_sharing"].dump(),
            R"({"ranks_per_host":8,"compute_slowdown":2.25,"call_cpu_ms":0.25})");
  back = cluster_profile_from_json(j, "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, c);
  // The CPU each rank of a host is bound to: written when recorded, one per rank of a host.
  c.host_sharing.cpus = {0, 1, 0, 1, 0, 1, 0, 1};
  j = to_json(c);
  EXPECT_EQ(j["host_sharing"]["cpus"].dump(), "[0,1,0,1,0,1,0,1]");
  back = cluster_profile_from_json(j, "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, c);
  j["host_sharing"]["cpus"] = {0, 1, 0, 1};
  EXPECT_TRUE(error_contains(parse(j), "host_sharing.cpus", "ranks_per_host = 8"));
  j["host_sharing"]["cpus"] = {0, 1, 0, 1, 0, 1, 0, -1};
  EXPECT_TRUE(error_contains(parse(j), "cpus"));
  j["host_sharing"].erase("cpus");
  c.host_sharing.cpus.clear();
  j["host_sharing"]["call_cpu_ms"] = -0.1;
  EXPECT_TRUE(error_contains(parse(j), "host_sharing.call_cpu_ms"));
  j["host_sharing"].erase("call_cpu_ms");
  j["host_sharing"]["compute_slowdown"] = 0.5;
  EXPECT_TRUE(error_contains(parse(j), "host_sharing.compute_slowdown"));
  j["host_sharing"]["compute_slowdown"] = 2.0;
  j["host_sharing"]["ranks_per_host"] = 3;  // does not divide 8 devices
  EXPECT_TRUE(error_contains(parse(j), "host_sharing.ranks_per_host", "divide the 8 devices"));
  j["host_sharing"]["ranks_per_host"] = 0;
  EXPECT_TRUE(error_contains(parse(j), "host_sharing.ranks_per_host"));
  j["host_sharing"].erase("ranks_per_host");
  EXPECT_TRUE(error_contains(parse(j), "ranks_per_host"));
  // One rank per host, or no slowdown, is no sharing.
  EXPECT_FALSE((HostSharing{1, 2.0}).shared());
  EXPECT_FALSE((HostSharing{8, 1.0}).shared());
}

TEST(ClusterProfile, OptionalArrivalWaits) {
  ClusterProfile c = two_nodes();
  EXPECT_FALSE(to_json(c).contains("arrival_waits"));
  c.arrival_waits = {ArrivalWait{4, Placement::kIntraIsland, true,
                                 {WaitSample{Milliseconds(0.5), Milliseconds(0.25)},
                                  WaitSample{Milliseconds(8), Milliseconds(3)}}}};
  Json j = to_json(c);
  EXPECT_EQ(j["arrival_waits"][0].dump(),
            R"({"group_size":4,"placement":"intra","consecutive":true,"samples":)"
            R"([{"load_ms":0.5,"wait_ms":0.25},{"load_ms":8.0,"wait_ms":3.0}]})");
  StatusOr<ClusterProfile> back = cluster_profile_from_json(j, "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, c);
  Json bad = j;
  bad["arrival_waits"][0]["samples"][1]["load_ms"] = 0.25;  // not increasing
  EXPECT_TRUE(error_contains(parse(bad), "arrival_waits[0].samples[1].load_ms", "increasing"));
  bad = j;
  bad["arrival_waits"][0]["samples"][0]["wait_ms"] = -1.0;
  EXPECT_TRUE(error_contains(parse(bad), "arrival_waits[0].samples[0].wait_ms"));
  bad = j;
  bad["arrival_waits"][0]["group_size"] = 16;
  EXPECT_TRUE(error_contains(parse(bad), "arrival_waits[0].group_size"));
  bad = j;
  bad["arrival_waits"][0]["samples"] = Json::array();
  EXPECT_TRUE(error_contains(parse(bad), "arrival_waits[0].samples"));
  bad = j;
  bad["arrival_waits"].push_back(j["arrival_waits"][0]);
  EXPECT_TRUE(error_contains(parse(bad), "arrival_waits[1]", "duplicate"));
}

TEST(ClusterProfile, CanonicalForm) {
  const Json j = to_json(two_nodes());
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"format_version", "name", "source", "note", "device",
                                            "islands", "collectives", "p2p", "overlap"}));
  EXPECT_EQ(j["device"].dump(),
            R"({"name":"cpu","memory_bytes":17179869184.0,"flops_per_s":125000000000.0,)"
            R"("memory_bandwidth_bytes_per_s":20000000000.0})");
  EXPECT_EQ(j["collectives"][0].dump(),
            R"({"op":"allreduce","group_size":4,"placement":"intra","consecutive":true,)"
            R"("latency_ms":0.05,"bus_bandwidth_bytes_per_s":1200000000.0,"samples":)"
            R"([{"bytes":1048576.0,"time_ms":1.5},{"bytes":16777216.0,"time_ms":21.25}]})");
  EXPECT_EQ(j["p2p"][1].dump(),
            R"({"placement":"inter","latency_ms":0.2,"bandwidth_bytes_per_s":114000000.0,)"
            R"("samples":[]})");
  EXPECT_EQ(j["overlap"].dump(), R"({"compute_slowdown":1.3,"comm_slowdown":1.1})");
}

TEST(ClusterProfile, Helpers) {
  const ClusterProfile c = two_nodes();
  EXPECT_EQ(c.num_devices(), 8);
  EXPECT_EQ(c.devices_per_island(), 4);
  EXPECT_EQ(c.island_of(0), 0);
  EXPECT_EQ(c.island_of(3), 0);
  EXPECT_EQ(c.island_of(4), 1);
  EXPECT_EQ(c.island_of(7), 1);
  EXPECT_DOUBLE_EQ(algo_factor(CollectiveOp::kAllReduce, 8), 1.75);
  EXPECT_DOUBLE_EQ(algo_factor(CollectiveOp::kAllReduce, 2), 1.0);
  EXPECT_DOUBLE_EQ(algo_factor(CollectiveOp::kAllGather, 8), 0.875);
  EXPECT_DOUBLE_EQ(algo_factor(CollectiveOp::kReduceScatter, 4), 0.75);
  EXPECT_DOUBLE_EQ(algo_factor(CollectiveOp::kAllToAll, 2), 0.5);
  EXPECT_DOUBLE_EQ(algo_factor(CollectiveOp::kAllReduce, 1), 0.0);
  EXPECT_STREQ(to_string(CollectiveOp::kReduceScatter), "reduce_scatter");
  EXPECT_STREQ(to_string(CollectiveOp::kAllToAll), "all2all");
  EXPECT_STREQ(to_string(Placement::kInterIsland), "inter");
}

TEST(ClusterProfile, Fingerprint) {
  const ClusterProfile c = two_nodes();
  const std::string f = fingerprint(c);
  ASSERT_EQ(f.size(), 18u);
  EXPECT_EQ(f.substr(0, 2), "c-");
  EXPECT_EQ(f.find_first_not_of("0123456789abcdef", 2), std::string::npos);
  ClusterProfile renamed = c;
  renamed.name = "other";
  renamed.note = "other note";
  EXPECT_EQ(fingerprint(renamed), f);  // free text does not change the costs
  ClusterProfile slower = c;
  slower.collectives[0].bus_bandwidth = BytesPerSecond(1.1e9);
  EXPECT_NE(fingerprint(slower), f);
  ClusterProfile resampled = c;
  resampled.collectives[0].samples.pop_back();
  EXPECT_NE(fingerprint(resampled), f);
  // Same content read back from a file: same fingerprint.
  EXPECT_EQ(fingerprint(cluster_profile_from_json(to_json(c), "x").value()), f);
}

TEST(ClusterProfile, SingleIslandSpecSheet) {
  ClusterProfile c = two_nodes();
  c.source = "spec-sheet";
  c.islands = {Island{"node0", 8}};
  c.collectives = {fit(CollectiveOp::kAllReduce, 8, Placement::kIntraIsland, true, 0.01, 2e11)};
  c.p2p.pop_back();
  c.device.flops = FlopsPerSecond(0);  // unknown: allowed
  EXPECT_TRUE(validate(c, "x").ok()) << validate(c, "x").message();
  EXPECT_TRUE(parse(to_json(c)).ok());
}

// ---- bad inputs ----

TEST(ClusterProfileErrors, Parsing) {
  Json j = to_json(two_nodes());
  j["device"]["flops"] = 1e12;
  EXPECT_TRUE(error_contains(parse(j), "cluster.json: field \"device.flops\"", "unknown field"));
  j = to_json(two_nodes());
  j["p2p"][0].erase("samples");
  EXPECT_TRUE(error_contains(parse(j), "cluster.json: field \"p2p[0].samples\"", "missing"));
  j = to_json(two_nodes());
  j["collectives"][2]["latency_ms"] = "fast";
  EXPECT_TRUE(error_contains(parse(j), "cluster.json: field \"collectives[2].latency_ms\"",
                             "expected a number"));
  j = to_json(two_nodes());
  j["collectives"][0]["samples"][1]["time_ms"] = -2.0;
  EXPECT_TRUE(error_contains(parse(j),
                             "cluster.json: field \"collectives[0].samples[1].time_ms\"",
                             "must be >= 0"));
  j = to_json(two_nodes());
  j["collectives"][1]["op"] = "broadcast";
  EXPECT_TRUE(error_contains(parse(j), "cluster.json: field \"collectives[1].op\"",
                             "\"reduce_scatter\"", "\"broadcast\""));
  j = to_json(two_nodes());
  j["source"] = "guessed";
  EXPECT_TRUE(error_contains(parse(j), "cluster.json: field \"source\""));
  j = to_json(two_nodes());
  j["islands"] = Json::array();
  EXPECT_TRUE(error_contains(parse(j), "cluster.json: field \"islands\"", "at least 1"));
  j = to_json(two_nodes());
  j["collectives"][0]["group_size"] = 1;
  EXPECT_TRUE(error_contains(parse(j), "cluster.json: field \"collectives[0].group_size\"",
                             "must be >= 2"));
  j = to_json(two_nodes());
  j["overlap"]["compute_slowdown"] = 0.9;
  EXPECT_TRUE(error_contains(parse(j), "cluster.json: field \"overlap.compute_slowdown\"",
                             "must be >= 1"));
  j = to_json(two_nodes());
  j["device"]["memory_bytes"] = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(error_contains(parse(j), "cluster.json: field \"device.memory_bytes\"", "finite"));
  j = to_json(two_nodes());
  j["islands"][1]["devices"] = true;
  EXPECT_TRUE(error_contains(parse(j), "cluster.json: field \"islands[1].devices\"",
                             "expected an integer"));
  const std::string bad = write_temp("bad-cluster.json", "{\n  \"name\": \"x\"\n  \"note\": 1\n}");
  EXPECT_TRUE(error_contains(load_cluster_profile(bad).status(), bad + ":3:", "malformed JSON"));
}

TEST(ClusterProfileErrors, Semantics) {
  ClusterProfile c = two_nodes();
  c.islands[1].devices = 2;
  EXPECT_TRUE(error_contains(validate(c, "c.json"), "c.json: field \"islands[1].devices\"",
                             "same device count"));
  EXPECT_TRUE(error_contains(parse(to_json(c)), "field \"islands[1].devices\""));
  c = two_nodes();
  c.islands[1].name = "node0";
  EXPECT_TRUE(error_contains(validate(c, "c.json"), "field \"islands[1].name\"", "duplicate"));
  c = two_nodes();
  c.collectives[2].group_size = 16;
  EXPECT_TRUE(error_contains(validate(c, "c.json"), "field \"collectives[2].group_size\"",
                             "[2, num_devices = 8], got 16"));
  c = two_nodes();
  c.collectives[0].group_size = 8;  // intra, but islands hold 4
  EXPECT_TRUE(error_contains(validate(c, "c.json"), "field \"collectives[0].group_size\"",
                             "fit in one island (4 devices)"));
  c = two_nodes();
  c.islands = {Island{"node0", 8}};
  EXPECT_TRUE(error_contains(validate(c, "c.json"), "field \"collectives[2].placement\"",
                             "at least two islands"));
  c = two_nodes();
  c.collectives[1].bus_bandwidth = BytesPerSecond(0);
  EXPECT_TRUE(error_contains(validate(c, "c.json"),
                             "field \"collectives[1].bus_bandwidth_bytes_per_s\"", "> 0"));
  EXPECT_TRUE(error_contains(parse(to_json(c)),
                             "cluster.json: field \"collectives[1].bus_bandwidth_bytes_per_s\""));
  c = two_nodes();
  c.p2p[1].bandwidth = BytesPerSecond(0);
  EXPECT_TRUE(error_contains(validate(c, "c.json"), "field \"p2p[1].bandwidth_bytes_per_s\""));
  c = two_nodes();
  c.collectives.push_back(c.collectives[0]);
  c.collectives.back().bus_bandwidth = BytesPerSecond(5e8);
  EXPECT_TRUE(error_contains(validate(c, "c.json"), "field \"collectives[4]\"",
                             "duplicate entry for allreduce group_size 4 intra consecutive"));
  c = two_nodes();
  c.p2p[1].placement = Placement::kIntraIsland;
  EXPECT_TRUE(error_contains(validate(c, "c.json"), "field \"p2p[1].placement\"", "duplicate"));
  c = two_nodes();
  c.device.memory = Bytes(0);
  EXPECT_TRUE(error_contains(validate(c, "c.json"), "field \"device.memory_bytes\"", "> 0"));
  c = two_nodes();
  c.overlap.comm_slowdown = 0.5;
  EXPECT_TRUE(error_contains(validate(c, "c.json"), "field \"overlap.comm_slowdown\""));
}

}  // namespace
}  // namespace paratune
