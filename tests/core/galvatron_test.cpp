// Galvatron import / export: the real A800 profiles in ../shared/data/galvatron-a800 (tests that
// need them skip when the folder is missing), hand-made files for the error paths, and the
// strategy config conversion both ways.
#include "core/galvatron.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace paratune::galvatron {
namespace {

namespace fs = std::filesystem;

std::string repo_root() {
  const char* s = std::getenv("PARATUNE_SOURCE_DIR");
  return s ? s : ".";
}
std::string data_dir() {
  return repo_root() + "/../shared/data/galvatron-a800";
}

#define PARATUNE_REQUIRE_GALVATRON_DATA()                                        \
  do {                                                                           \
    if (!fs::is_directory(data_dir())) {                                         \
      GTEST_SKIP() << "Galvatron A800 profiles not found at " << data_dir()      \
                   << " (../shared/data/galvatron-a800 next to the repository)"; \
    }                                                                            \
  } while (0)

ModelConfig llama2_7b() {
  ModelConfig m;
  m.name = "llama2-7b";
  m.num_layers = 32;
  m.hidden = 4096;
  m.heads = 32;
  m.kv_heads = 32;
  m.ffn_hidden = 11008;
  m.seq_len = 2048;
  m.vocab = 32000;
  m.norm = NormKind::kRmsNorm;
  m.activation = ActivationKind::kSwiGlu;
  m.position = PositionKind::kRope;
  m.dtype = DType::kBf16;
  m.tied_embeddings = false;
  m.bias = false;
  m.norm_eps = 1e-6;
  return m;
}

ModelConfig bert_large(int seq) {
  ModelConfig m;
  m.name = "bert-large";
  m.num_layers = 24;
  m.hidden = 1024;
  m.heads = 16;
  m.kv_heads = 16;
  m.ffn_hidden = 4096;
  m.seq_len = seq;
  m.vocab = 30522;
  m.dtype = DType::kBf16;
  return m;
}

const CollectiveFit* find(const ClusterProfile& c, CollectiveOp op, int n, Placement p,
                          bool consecutive) {
  for (const CollectiveFit& f : c.collectives) {
    if (f.op == op && f.group_size == n && f.placement == p && f.consecutive == consecutive) {
      return &f;
    }
  }
  return nullptr;
}
const P2pFit* find_p2p(const ClusterProfile& c, Placement p) {
  for (const P2pFit& f : c.p2p) {
    if (f.placement == p) return &f;
  }
  return nullptr;
}

constexpr auto kIntra = Placement::kIntraIsland;
constexpr auto kInter = Placement::kInterIsland;
constexpr auto kAllReduce = CollectiveOp::kAllReduce;
constexpr auto kAllToAll = CollectiveOp::kAllToAll;

// A fresh temporary folder, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("paratune_galvatron_" + std::to_string(std::rand()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path p = path_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// ------------------------------------------ layout -------------------------------------------

TEST(GalvatronLayout, GroupsFollowGalvatronsProfiler) {
  EXPECT_EQ(allreduce_group(16, 4, true, 1), (std::vector<Rank>{4, 5, 6, 7}));
  EXPECT_EQ(allreduce_group(16, 2, false, 0), (std::vector<Rank>{0, 8}));
  EXPECT_EQ(allreduce_group(8, 4, false, 1), (std::vector<Rank>{1, 3, 5, 7}));
  EXPECT_EQ(p2p_group(16, 4, 0), (std::vector<Rank>{0, 4, 8, 12}));
}

TEST(GalvatronLayout, PlacementOfGroups) {
  // 2 nodes x 8: consecutive groups cross only when larger than a node; strided always cross.
  EXPECT_EQ(allreduce_placement(16, 8, 8, true), kIntra);
  EXPECT_EQ(allreduce_placement(16, 8, 16, true), kInter);
  for (int n : {2, 4, 8}) EXPECT_EQ(allreduce_placement(16, 8, n, false), kInter) << n;
  // one node: never.
  EXPECT_EQ(allreduce_placement(8, 8, 4, false), kIntra);
  EXPECT_EQ(allreduce_placement(8, 8, 2, false), kIntra);
  // p2p rings: stages are split across nodes first.
  for (int pp : {2, 4, 8, 16}) EXPECT_EQ(p2p_placement(16, 8, pp), kInter) << pp;
  for (int pp : {2, 4, 8}) EXPECT_EQ(p2p_placement(8, 8, pp), kIntra) << pp;
}

// ------------------------------------------- fits --------------------------------------------

TEST(GalvatronFit, RecoversAnExactLine) {
  std::vector<CommSample> s;
  for (int mib = 1; mib <= 1024; mib *= 2) {
    const double bytes = mib * kMiB;
    s.push_back({Bytes(bytes), Milliseconds(0.05 + bytes * 4e-9)});
  }
  StatusOr<AlphaBeta> f = fit_alpha_beta(s);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_NEAR(f->latency.value, 0.05, 1e-12);
  EXPECT_NEAR(f->ms_per_byte, 4e-9, 1e-20);
}

TEST(GalvatronFit, ClampsANegativeIntercept) {
  const std::vector<CommSample> s = {{Bytes(1e6), Milliseconds(0.5)},
                                     {Bytes(2e6), Milliseconds(1.5)}};
  StatusOr<AlphaBeta> f = fit_alpha_beta(s);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->latency.value, 0.0);
  // through the origin with weights 1/t^2: c = sum(x/t) / sum(x^2/t^2)
  const double c = (1e6 / 0.5 + 2e6 / 1.5) / (1e12 / 0.25 + 4e12 / 2.25);
  EXPECT_NEAR(f->ms_per_byte, c, 1e-18);
}

TEST(GalvatronFit, NeedsTwoSizes) {
  EXPECT_FALSE(fit_alpha_beta({{Bytes(1e6), Milliseconds(1)}, {Bytes(1e6), Milliseconds(2)}}).ok());
}

// ----------------------------------------- hardware ------------------------------------------

TEST(GalvatronHardware, A800OneNodeOfEight) {
  PARATUNE_REQUIRE_GALVATRON_DATA();
  StatusOr<ClusterProfile> c = import_a800_cluster(data_dir(), 1, 8);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->source, "galvatron-import");
  EXPECT_EQ(c->num_devices(), 8);
  EXPECT_EQ(c->device, a800_80gb());
  EXPECT_NE(c->note.find("sp_time_1nodes_8gpus_per_node.json"), std::string::npos) << c->note;

  // allreduce_bandwidth_1nodes_8gpus_per_node.json, GB/s -> 1e9 B/s.
  const CollectiveFit* ar8 = find(*c, kAllReduce, 8, kIntra, true);
  ASSERT_NE(ar8, nullptr);
  EXPECT_DOUBLE_EQ(ar8->bus_bandwidth.value, 154.203e9);
  const CollectiveFit* ar4s = find(*c, kAllReduce, 4, kIntra, false);
  ASSERT_NE(ar4s, nullptr);
  EXPECT_DOUBLE_EQ(ar4s->bus_bandwidth.value, 155.815e9);
  EXPECT_DOUBLE_EQ(find(*c, kAllReduce, 2, kIntra, false)->bus_bandwidth.value, 151.344e9);
  EXPECT_EQ(find(*c, kAllReduce, 8, kIntra, false), nullptr);  // a group of the whole world
  // Latency: the sp_time fit of the same size, on strided groups too; samples on the
  // consecutive entry only (11 sizes, 1..1024 MiB).
  EXPECT_GT(ar8->latency.value, 0.05);
  EXPECT_LT(ar8->latency.value, 0.12);
  ASSERT_EQ(ar8->samples.size(), 11u);
  EXPECT_EQ(ar8->samples.front().bytes.value, kMiB);
  EXPECT_DOUBLE_EQ(ar8->samples.back().time.value, 8.1409);
  const CollectiveFit* ar4 = find(*c, kAllReduce, 4, kIntra, true);
  EXPECT_EQ(ar4s->latency, ar4->latency);
  EXPECT_TRUE(ar4s->samples.empty());
  // all2all straight from the sp_time fit: relative residuals (noisy small messages) have an
  // RMS below 16% and stay within 35% (measured: 9/15/5% RMS, 17/32/11% max for n = 2/4/8).
  for (int n : {2, 4, 8}) {
    const CollectiveFit* a = find(*c, kAllToAll, n, kIntra, true);
    ASSERT_NE(a, nullptr) << n;
    ASSERT_EQ(a->samples.size(), 11u);
    double sum_sq = 0;
    for (const CommSample& s : a->samples) {
      const double model = a->latency.value +
                           algo_factor(kAllToAll, n) * s.bytes.value / a->bus_bandwidth.value * 1e3;
      EXPECT_NEAR(model / s.time.value, 1.0, 0.35) << n << " " << s.bytes.value;
      sum_sq += (model / s.time.value - 1) * (model / s.time.value - 1);
    }
    EXPECT_LT(std::sqrt(sum_sq / a->samples.size()), 0.16) << n;
  }
  // No inter-island entries on one node; p2p = min over pp sizes; overlap.
  for (const CollectiveFit& f : c->collectives) EXPECT_EQ(f.placement, kIntra);
  ASSERT_EQ(c->p2p.size(), 1u);
  EXPECT_DOUBLE_EQ(find_p2p(*c, kIntra)->bandwidth.value, 109.45e9);
  EXPECT_DOUBLE_EQ(c->overlap.compute_slowdown, 1.125552573612729);
  EXPECT_DOUBLE_EQ(c->overlap.comm_slowdown, 1.125552573612729);
}

TEST(GalvatronHardware, A800TwoNodesOfEight) {
  PARATUNE_REQUIRE_GALVATRON_DATA();
  StatusOr<ClusterProfile> c = import_a800_cluster(data_dir() + "/hardware", 2, 8);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->islands.size(), 2u);
  EXPECT_EQ(c->devices_per_island(), 8);
  // From the 2-node file: the whole world, strided groups across nodes, intra consecutive.
  EXPECT_DOUBLE_EQ(find(*c, kAllReduce, 16, kInter, true)->bus_bandwidth.value, 44.682e9);
  EXPECT_DOUBLE_EQ(find(*c, kAllReduce, 2, kInter, false)->bus_bandwidth.value, 8.13007e9);
  EXPECT_DOUBLE_EQ(find(*c, kAllReduce, 8, kInter, false)->bus_bandwidth.value, 20.7724e9);
  EXPECT_DOUBLE_EQ(find(*c, kAllReduce, 8, kIntra, true)->bus_bandwidth.value, 155.658e9);
  // Intra-node strided groups only the 1-node file has.
  EXPECT_DOUBLE_EQ(find(*c, kAllReduce, 4, kIntra, false)->bus_bandwidth.value, 155.815e9);
  // Size 16 has no sp_time fit: the largest fitted latency.
  double max_latency = 0;
  for (int n : {2, 4, 8}) {
    max_latency = std::max(max_latency, find(*c, kAllReduce, n, kIntra, true)->latency.value);
  }
  EXPECT_EQ(find(*c, kAllReduce, 16, kInter, true)->latency.value, max_latency);
  EXPECT_EQ(find(*c, kAllReduce, 2, kInter, false)->latency,
            find(*c, kAllReduce, 2, kIntra, true)->latency);
  // p2p: inter from the 2-node file (every pp ring crosses), intra from the 1-node file.
  EXPECT_DOUBLE_EQ(find_p2p(*c, kInter)->bandwidth.value, 7.65998e9);
  EXPECT_DOUBLE_EQ(find_p2p(*c, kIntra)->bandwidth.value, 109.45e9);
}

TEST(GalvatronHardware, A800OneNodeOfFourUsesTheEightGpuSpTime) {
  PARATUNE_REQUIRE_GALVATRON_DATA();
  StatusOr<ClusterProfile> c = import_a800_cluster(data_dir(), 1, 4);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->num_devices(), 4);
  EXPECT_DOUBLE_EQ(find(*c, kAllReduce, 4, kIntra, true)->bus_bandwidth.value, 158.018e9);
  EXPECT_DOUBLE_EQ(find_p2p(*c, kIntra)->bandwidth.value, 140.185e9);
  EXPECT_EQ(find(*c, kAllToAll, 8, kIntra, true), nullptr);  // does not fit a 4-GPU node
  ASSERT_NE(find(*c, kAllToAll, 4, kIntra, true), nullptr);
  EXPECT_EQ(find(*c, kAllReduce, 4, kIntra, true)->samples.size(), 11u);
}

TEST(GalvatronHardware, ImportedProfileSurvivesItsJsonFormat) {
  PARATUNE_REQUIRE_GALVATRON_DATA();
  StatusOr<ClusterProfile> c = import_a800_cluster(data_dir(), 2, 8);
  ASSERT_TRUE(c.ok()) << c.status().message();
  StatusOr<ClusterProfile> back = cluster_profile_from_json(to_json(*c), "roundtrip");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, *c);
}

TEST(GalvatronHardware, NoSuchClusterInTheData) {
  PARATUNE_REQUIRE_GALVATRON_DATA();
  StatusOr<ClusterProfile> c = import_a800_cluster(data_dir(), 4, 8);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("allreduce_bandwidth_4nodes_8gpus_per_node.json"),
            std::string::npos)
      << c.status().message();
}

struct MiniHardware {
  std::string allreduce =
      R"({"allreduce_size_2_consec_1": 100.0, "allreduce_size_2_consec_0": 90})";
  std::string p2p = R"({"pp_size_2": 50})";
  std::string overlap = R"({"overlap_coe": 1.2})";
  void write(const TempDir& d) const {
    d.write("allreduce_bandwidth_1nodes_4gpus_per_node.json", allreduce);
    d.write("p2p_bandwidth_1nodes_4gpus_per_node.json", p2p);
    d.write("overlap_coefficient.json", overlap);
  }
};

TEST(GalvatronHardware, MinimalFilesWithoutSpTime) {
  TempDir d;
  MiniHardware().write(d);
  StatusOr<ClusterProfile> c = import_hardware(d.str(), 1, 4, a800_80gb());
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->collectives.size(), 2u);
  EXPECT_EQ(find(*c, kAllReduce, 2, kIntra, false)->latency.value, 0.01);
  EXPECT_DOUBLE_EQ(find(*c, kAllReduce, 2, kIntra, true)->bus_bandwidth.value, 100e9);
  EXPECT_DOUBLE_EQ(c->overlap.comm_slowdown, 1.2);
}

TEST(GalvatronHardware, ErrorsNameTheFileAndTheKey) {
  const auto fails_with = [](const MiniHardware& h, const std::string& what) {
    TempDir d;
    h.write(d);
    StatusOr<ClusterProfile> c = import_hardware(d.str(), 1, 4, a800_80gb());
    ASSERT_FALSE(c.ok()) << what;
    EXPECT_NE(c.status().message().find(what), std::string::npos) << c.status().message();
  };
  MiniHardware h;
  h.allreduce = R"({"allreduce_size_2_consecutive_1": 100})";
  fails_with(h,
             "allreduce_bandwidth_1nodes_4gpus_per_node.json: field "
             "\"allreduce_size_2_consecutive_1\": unknown key");
  h = MiniHardware();
  h.allreduce = R"({"allreduce_size_2_consec_1": "fast"})";
  fails_with(h, "\"allreduce_size_2_consec_1\": expected a number");
  h = MiniHardware();
  h.allreduce = R"({"allreduce_size_8_consec_1": 100})";
  fails_with(h, "group size 8 does not divide the 4 devices");
  h = MiniHardware();
  h.p2p = R"({"pp_size_2": -3})";
  fails_with(h, "\"pp_size_2\": must be a positive finite number");
  h = MiniHardware();
  h.overlap = R"({"overlap_coe": 0.9})";
  fails_with(h, "overlap_coefficient.json: field \"overlap_coe\": must be >= 1");
  h = MiniHardware();
  h.overlap = R"({"overlap_coe": 1.1, "extra": 1})";
  fails_with(h, "field \"extra\"");
  {
    TempDir d;
    d.write("allreduce_bandwidth_1nodes_4gpus_per_node.json", h.allreduce);
    StatusOr<ClusterProfile> c = import_hardware(d.str(), 1, 4, a800_80gb());
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
    EXPECT_NE(c.status().message().find("p2p_bandwidth_1nodes_4gpus_per_node.json"),
              std::string::npos);
  }
  {
    TempDir d;
    MiniHardware().write(d);
    d.write("sp_time_1nodes_4gpus_per_node.json", R"({"allreduce_size_2_1MB_time": 0.1})");
    StatusOr<ClusterProfile> c = import_hardware(d.str(), 1, 4, a800_80gb());
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("at least 2 message sizes"), std::string::npos)
        << c.status().message();
  }
}

// ------------------------------------------- model -------------------------------------------

const std::string kLlamaComp = "/llama2-7b/computation_profiling_bf16_llama2-7b_all.json";
const std::string kLlamaMem = "/llama2-7b/memory_profiling_bf16_llama2-7b_all.json";
const std::string kBertComp = "/bert-large/computation_profiling_bf16_hidden1024_head16.json";
const std::string kBertMem = "/bert-large/memory_profiling_bf16_hidden1024_head16.json";

TEST(GalvatronModel, Llama2_7b) {
  PARATUNE_REQUIRE_GALVATRON_DATA();
  const ModelConfig m = llama2_7b();
  StatusOr<ModelProfile> p = import_a800_model(data_dir(), m);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->source, "galvatron-import");
  EXPECT_EQ(p->device, "A800");
  EXPECT_EQ(p->seq_len, 2048);
  EXPECT_EQ(p->model_fingerprint, fingerprint(m));
  const LayerTypeProfile* layer = p->find("transformer");
  const LayerTypeProfile* emb = p->find("embedding");
  const LayerTypeProfile* head = p->find("lm_head");
  ASSERT_TRUE(layer && emb && head);

  // parameter_size 778.2236328125 MiB of fp32 -> 204,010,... params vs 202,383,360 (+0.8%).
  EXPECT_EQ(layer->param_count, std::llround(778.2236328125 * kMiB / 4));
  EXPECT_NEAR(static_cast<double>(layer->param_count) / m.layer_param_count(), 1.0, 0.02);
  // model_states at tp 1 / 16 B: 2021.0 MiB -> 132.4M vs 131.07M (embedding), 131.08M (head).
  EXPECT_NEAR(static_cast<double>(emb->param_count) / m.embedding_param_count(), 1.0, 0.02);
  EXPECT_NEAR(static_cast<double>(head->param_count) / m.head_param_count(), 1.0, 0.02);

  // Compute: 12 micro-batch sizes, tp 1, forward = per-sample * b, backward = 2 * forward.
  ASSERT_EQ(layer->compute.size(), 12u);
  for (const ComputePoint& c : layer->compute) {
    EXPECT_EQ(c.tp, 1);
    EXPECT_DOUBLE_EQ(c.backward.value, 2 * c.forward.value);
  }
  EXPECT_DOUBLE_EQ(layer->compute[0].forward.value, 4.396252679824831);
  EXPECT_DOUBLE_EQ(layer->compute[3].forward.value, 4 * 4.124338817596435);
  // "other" = embedding (memory bound) + head.
  ASSERT_EQ(emb->compute.size(), 12u);
  const double emb_ms = 2.0 * 2048 * 4096 * 2 / 2.039e12 * 1e3;
  EXPECT_NEAR(emb->compute[0].forward.value, emb_ms, 1e-12);
  EXPECT_NEAR(emb->compute[0].forward.value + head->compute[0].forward.value, 6.286115455627439,
              1e-12);

  // Activation (MiB per sample -> bytes): tp 1 plain, tp > 1 with sequence parallel.
  ASSERT_EQ(layer->activation.size(), 4u);
  EXPECT_EQ(layer->activation[0].tp, 1);
  EXPECT_FALSE(layer->activation[0].sp);
  EXPECT_DOUBLE_EQ(layer->activation[0].bytes_per_sample.value, 514.5634765625 * kMiB);
  EXPECT_EQ(layer->activation[3].tp, 8);
  EXPECT_TRUE(layer->activation[3].sp);
  EXPECT_DOUBLE_EQ(layer->activation[3].bytes_per_sample.value, 68.3204345703125 * kMiB);
  // Checkpoint keeps 32 MiB per sample = 2048 x 4096 x 4 B.
  EXPECT_DOUBLE_EQ(layer->checkpoint_bytes_per_sample.value, 2048.0 * 4096 * 4);
  EXPECT_DOUBLE_EQ(emb->activation[0].bytes_per_sample.value, 198.7357177734375 * kMiB);
  EXPECT_DOUBLE_EQ(head->activation[0].bytes_per_sample.value, 717.560302734375 * kMiB);

  // The profile survives its own JSON format.
  StatusOr<ModelProfile> back = model_profile_from_json(to_json(*p), "roundtrip");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, *p);
}

// layertype_0 is the per-sample difference of the raw layernum totals:
// (T(layernum[4]) - T(layernum[2])) / 2 / b, and layertype_other = (T(layernum[2]) - 2 b L) / b.
TEST(GalvatronModel, LayertypeIsTheDifferenceOfLayernumTotals) {
  PARATUNE_REQUIRE_GALVATRON_DATA();
  StatusOr<Json> j = read_json_file(data_dir() + kLlamaComp);
  ASSERT_TRUE(j.ok()) << j.status().message();
  int checked = 0;
  for (int b = 1; b <= 12; ++b) {
    const std::string sfx = "_bsz" + std::to_string(b) + "_seq2048";
    const double t2 = (*j)["layernum[2]" + sfx].get<double>();
    const double t4 = (*j)["layernum[4]" + sfx].get<double>();
    const double layer = (*j)["layertype_0" + sfx].get<double>();
    const double other = (*j)["layertype_other" + sfx].get<double>();
    EXPECT_NEAR((t4 - t2) / 2 / b, layer, 1e-9 * layer) << b;
    EXPECT_NEAR((t2 - 2 * b * layer) / b, other, 1e-9 * other) << b;
    ++checked;
  }
  EXPECT_EQ(checked, 12);
  // bert-large profiles 1 and 2 layers: layertype_0 = T(layernum[2]) - T(layernum[1]) at b = 1.
  StatusOr<Json> bert = read_json_file(data_dir() + kBertComp);
  ASSERT_TRUE(bert.ok());
  for (int s = 128; s <= 1024; s += 128) {
    const std::string sfx = "_bsz1_seq" + std::to_string(s);
    const double d =
        (*bert)["layernum[2]" + sfx].get<double>() - (*bert)["layernum[1]" + sfx].get<double>();
    EXPECT_NEAR(d, (*bert)["layertype_0" + sfx].get<double>(), 1e-9) << s;
  }
}

// The forward times are forward only: a llama2-7b layer runs at 65-73% of the A800's 312 TFLOP/s
// (b = 1..12); forward + backward (3x the FLOPs) in that time would need about twice the peak.
TEST(GalvatronModel, ForwardTimesArePlausibleForAnA800) {
  PARATUNE_REQUIRE_GALVATRON_DATA();
  const ModelConfig m = llama2_7b();
  StatusOr<ModelProfile> p = import_a800_model(data_dir(), m);
  ASSERT_TRUE(p.ok()) << p.status().message();
  for (const ComputePoint& c : p->find("transformer")->compute) {
    const double flops_per_s =
        c.micro_batch * m.layer_forward_flops_per_sample() / (c.forward.value * 1e-3);
    const double mfu = flops_per_s / a800_80gb().flops.value;
    EXPECT_GT(mfu, 0.6) << c.micro_batch;
    EXPECT_LT(mfu, 0.8) << c.micro_batch;
    EXPECT_GT(3 * mfu, 1.9) << c.micro_batch;  // impossible if the time were forward + backward
  }
}

TEST(GalvatronModel, BertLargePicksTheModelsSeqLen) {
  PARATUNE_REQUIRE_GALVATRON_DATA();
  StatusOr<ModelProfile> p =
      import_model(data_dir() + kBertComp, data_dir() + kBertMem, bert_large(512));
  ASSERT_TRUE(p.ok()) << p.status().message();
  const LayerTypeProfile* layer = p->find("transformer");
  ASSERT_EQ(layer->compute.size(), 1u);  // bsz 1 only, keys with the trailing "_0"
  EXPECT_DOUBLE_EQ(layer->compute[0].forward.value, 1.773727989196777);
  EXPECT_NEAR(
      p->find("embedding")->compute[0].forward.value + p->find("lm_head")->compute[0].forward.value,
      3.5152032375335702, 1e-12);
  EXPECT_DOUBLE_EQ(layer->checkpoint_bytes_per_sample.value, 1.25 * kMiB);
  // bert-large's measured parameter_size (40.89 MiB -> 10.7M) is ~15% below the 12.6M of the
  // architecture; imported as measured (it is what Galvatron's own memory model uses).
  const double ratio =
      static_cast<double>(layer->param_count) / bert_large(512).layer_param_count();
  EXPECT_GT(ratio, 0.8);
  EXPECT_LT(ratio, 0.9);

  // seq 2048 is in the memory file but not in the computation file.
  StatusOr<ModelProfile> missing =
      import_model(data_dir() + kBertComp, data_dir() + kBertMem, bert_large(2048));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no entries for seq_len 2048"), std::string::npos);
  EXPECT_NE(missing.status().message().find("128, 256, 384, 512, 640, 768, 896, 1024"),
            std::string::npos)
      << missing.status().message();
  // seq 640 is in the computation file but not in the memory file.
  StatusOr<ModelProfile> no_mem =
      import_model(data_dir() + kBertComp, data_dir() + kBertMem, bert_large(640));
  ASSERT_FALSE(no_mem.ok());
  EXPECT_NE(no_mem.status().message().find("128, 256, 512, 1024, 2048"), std::string::npos)
      << no_mem.status().message();
}

TEST(GalvatronModel, UnknownModelFolderListsTheKnownOnes) {
  PARATUNE_REQUIRE_GALVATRON_DATA();
  ModelConfig m = llama2_7b();
  m.name = "gpt-small";
  StatusOr<ModelProfile> p = import_a800_model(data_dir(), m);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("bert-large, llama2-7b"), std::string::npos)
      << p.status().message();
}

const char* kMiniMemory = R"({
  "1_1_8_sp": {"layernum[1]_bsz8_seq16_rank0_ms": 1.0},
  "layertype_0_sp": {"16": {"parameter_size": 4.0,
                            "tp_activation_per_bsz_dict": {"1": 2.0, "2": 1.0, "checkpoint": 0.5}}},
  "layertype_0": {"16": {"parameter_size": 4.0,
                         "tp_activation_per_bsz_dict": {"1": 2.0, "2": 1.5, "checkpoint": 0.5}}},
  "other_memory_pp_off_sp": {"16": {"model_states": {"1": 32.0}, "activation": {"1": 1.0}}},
  "other_memory_pp_on_first_sp": {"16": {"model_states": {"1": 16.0}, "activation": {"1": 1.0}}},
  "other_memory_pp_on_last_sp": {"16": {"model_states": {"1": 16.0},
                                        "activation": {"1": 3.0, "2": 1.5}}}
})";

ModelConfig mini_model() {
  ModelConfig m = bert_large(16);
  m.name = "mini";
  m.hidden = 64;
  m.heads = 4;
  m.kv_heads = 4;
  m.ffn_hidden = 256;
  return m;
}

TEST(GalvatronModel, PlainAndSequenceParallelMemoryVariants) {
  TempDir d;
  const std::string comp = d.write(
      "comp.json", R"({"layertype_0_bsz1_seq16": 0.5, "layertype_other_bsz1_seq16": 0.25})");
  const std::string mem = d.write("mem.json", kMiniMemory);
  StatusOr<ModelProfile> p = import_model(comp, mem, mini_model());
  ASSERT_TRUE(p.ok()) << p.status().message();
  const LayerTypeProfile* layer = p->find("transformer");
  EXPECT_EQ(layer->param_count, 1 << 20);   // 4 MiB of fp32
  ASSERT_EQ(layer->activation.size(), 3u);  // tp1, tp2 plain (1.5 MiB), tp2 + sp (1.0 MiB)
  EXPECT_EQ(layer->activation[1].tp, 2);
  EXPECT_FALSE(layer->activation[1].sp);
  EXPECT_DOUBLE_EQ(layer->activation[1].bytes_per_sample.value, 1.5 * kMiB);
  EXPECT_TRUE(layer->activation[2].sp);
  EXPECT_DOUBLE_EQ(layer->activation[2].bytes_per_sample.value, 1.0 * kMiB);
  EXPECT_EQ(p->find("embedding")->param_count, 1 << 20);  // 16 MiB / 16 B
  EXPECT_EQ(p->find("lm_head")->activation.size(), 2u);
}

TEST(GalvatronModel, StrictAboutKeysAndValues) {
  const auto fails_with = [](const std::string& comp_text, const std::string& mem_text,
                             const std::string& what) {
    TempDir d;
    StatusOr<ModelProfile> p =
        import_model(d.write("comp.json", comp_text), d.write("mem.json", mem_text), mini_model());
    ASSERT_FALSE(p.ok()) << what;
    EXPECT_NE(p.status().message().find(what), std::string::npos) << p.status().message();
  };
  const std::string good_comp =
      R"({"layertype_0_bsz1_seq16": 0.5, "layertype_other_bsz1_seq16": 0.25})";
  fails_with(R"({"layertype_0_bsz1_seq16": 0.5, "layertype_other_bsz1_seq16": 0.25,
                 "layertype_1_bsz1_seq16": 0.5})",
             kMiniMemory, "\"layertype_1_bsz1_seq16\": layer type 1");
  fails_with(R"({"layertype_0_bsz1_seq16": "0.5", "layertype_other_bsz1_seq16": 0.25})",
             kMiniMemory, "\"layertype_0_bsz1_seq16\": expected a number");
  fails_with(R"({"layer_0_bsz1_seq16": 0.5})", kMiniMemory, "\"layer_0_bsz1_seq16\": unknown key");
  const auto edit = [](std::string text, const std::string& from, const std::string& to) {
    text.replace(text.find(from), from.size(), to);  // first occurrence: the "_sp" entry
    return text;
  };
  fails_with(good_comp, edit(kMiniMemory, "\"checkpoint\"", "\"ckpt\""),
             "\"layertype_0_sp.16.tp_activation_per_bsz_dict.ckpt\": unknown key");
  fails_with(good_comp, edit(kMiniMemory, "\"parameter_size\": 4.0", "\"parameter_size\": \"4\""),
             "\"layertype_0_sp.16.parameter_size\": expected a number");
  fails_with(good_comp, edit(kMiniMemory, "\"1_1_8_sp\"", "\"mystery\""),
             "\"mystery\": unknown key");
  fails_with(good_comp,
             edit(kMiniMemory, "\"16\": {\"parameter_size\"", "\"32\": {\"parameter_size\""),
             "\"layertype_0_sp\": no entry for seq_len 16 (the file has 32)");
}

// ------------------------------------------ strategy -----------------------------------------

StatusOr<Json> parse(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const std::exception& e) {
    return InvalidArgument(e.what());
  }
}

std::string enc(int layers, const std::string& v) {
  std::string s;
  for (int i = 0; i < layers; ++i) s += (i ? "," : "") + v;
  return s;
}

// The 22 strategies of Galvatron's pruned decision tree on 8 devices (no checkpointing):
// per pp, tp x dp = 8/pp; consecutive flag when tp, dp > 1; ddp or ZeRO-3 when dp > 1.
std::vector<std::pair<int, LayerStrategy>> galvatron_22() {
  std::vector<std::pair<int, LayerStrategy>> out;
  for (int pp = 1; pp <= 8; pp *= 2) {
    const int g = 8 / pp;
    for (int tp = 1; tp <= g; tp *= 2) {
      const int dp = g / tp;
      for (bool consec : {true, false}) {
        if (!consec && (tp == 1 || dp == 1)) continue;
        for (DpType t : {DpType::kDdp, DpType::kZero3}) {
          if (t == DpType::kZero3 && dp == 1) continue;
          LayerStrategy ls;
          ls.tp = tp;
          ls.dp = dp;
          ls.tp_consecutive = consec;
          ls.dp_type = t;
          out.emplace_back(pp, ls);
        }
      }
    }
  }
  return out;
}

Strategy uniform(int pp, const LayerStrategy& ls, int layers = 32) {
  Strategy s;
  s.num_devices = 8;
  s.pp = pp;
  s.pp_division.assign(pp, layers / pp);
  s.micro_batches = 4;
  s.global_batch = 32;
  s.layers.assign(layers, ls);
  s.embedding.tp = 1;
  s.embedding.dp = 8 / pp;
  s.embedding.dp_type = ls.dp_type;
  return s;
}

TEST(GalvatronStrategy, TheTwentyTwoStrategiesRoundTrip) {
  const auto all = galvatron_22();
  ASSERT_EQ(all.size(), 22u);
  for (const auto& [pp, ls] : all) {
    for (bool sp : {false, true}) {
      LayerStrategy l = ls;
      l.sp = sp && l.tp > 1;
      const Strategy s = uniform(pp, l);
      StatusOr<Json> g = export_strategy(s);
      ASSERT_TRUE(g.ok()) << to_string(l) << ": " << g.status().message();
      EXPECT_EQ((*g)["default_dp_type"], "ddp");
      EXPECT_EQ((*g)["dp_types_enc"], enc(32, l.dp_type == DpType::kZero3 ? "1" : "0"));
      StatusOr<Strategy> back = import_strategy(*g, "exported", 8);
      ASSERT_TRUE(back.ok()) << to_string(l) << ": " << back.status().message();
      EXPECT_EQ(*back, s) << "pp" << pp << " " << to_string(l);
      EXPECT_TRUE(validate(*back, llama2_7b(), "exported").ok());
    }
  }
}

TEST(GalvatronStrategy, ExportWritesGalvatronsKeys) {
  LayerStrategy ls;
  ls.tp = 2;
  ls.dp = 2;
  ls.tp_consecutive = false;
  ls.dp_type = DpType::kZero2;
  ls.sp = true;
  Strategy s = uniform(2, ls, 4);
  s.layers[3].dp_type = DpType::kZero3;
  s.layers[0].checkpoint = true;
  s.embedding.tp = 2;
  s.embedding.dp = 2;
  s.embedding.sp = true;
  StatusOr<Json> g = export_strategy(s);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(dump_json(*g), R"({
  "pp_deg": 2,
  "tp_sizes_enc": "2,2,2,2",
  "tp_consecutive_flags": "0,0,0,0",
  "dp_types_enc": "0,0,0,1",
  "use_sp": "0,0,0,0",
  "checkpoint": "1,0,0,0",
  "global_bsz": 32,
  "chunks": 4,
  "pp_division": "2,2",
  "pipeline_type": "pipedream_flush",
  "default_dp_type": "zero2",
  "vtp": 2,
  "vsp": 0,
  "embed_sdp": 0,
  "sequence_parallel": 1
}
)");
  StatusOr<Strategy> back = import_strategy(*g, "exported", 8);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, s);
}

TEST(GalvatronStrategy, ExportRefusesWhatGalvatronCannotExpress) {
  LayerStrategy ls;
  ls.dp = 8;
  Strategy s = uniform(1, ls, 4);
  s.layers[2].dp_type = DpType::kZero2;
  StatusOr<Json> g = export_strategy(s);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("layers[0] uses ddp and layers[2] uses zero2"),
            std::string::npos)
      << g.status().message();

  LayerStrategy tp2;
  tp2.tp = 2;
  tp2.dp = 4;
  s = uniform(1, tp2, 4);
  s.layers[1].sp = true;
  g = export_strategy(s);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("layers[1] uses sequence parallel and layers[0]"),
            std::string::npos)
      << g.status().message();

  s = uniform(1, tp2, 4);
  s.embedding.checkpoint = true;
  EXPECT_FALSE(export_strategy(s).ok());

  // A DDP layer with dp = 1 does not conflict with ZeRO-2 elsewhere.
  tp2.dp = 2;
  s = uniform(2, tp2, 4);
  s.layers[0].tp = 4;
  s.layers[0].dp = 1;
  s.layers[1].dp_type = DpType::kZero2;
  s.layers[2].dp_type = DpType::kZero2;
  s.layers[3].dp_type = DpType::kZero2;
  s.embedding.dp_type = DpType::kZero2;
  g = export_strategy(s);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ((*g)["default_dp_type"], "zero2");
}

TEST(GalvatronStrategy, ImportFollowsGalvatronsMeaning) {
  StatusOr<Json> j = parse(R"({
    "pp_deg": 2, "tp_sizes_enc": "1,1,2,2", "tp_consecutive_flags": "1,1,1,0",
    "dp_types_enc": "0,1,0,1", "use_sp": "1,0,0,0", "checkpoint": "0,1,0,0",
    "global_bsz": 16, "chunks": 4, "pp_division": "1,3", "pipeline_type": "pipedream_flush",
    "default_dp_type": "zero2", "vtp": 2, "vsp": 0, "embed_sdp": 1})");
  ASSERT_TRUE(j.ok());
  StatusOr<Strategy> s = import_strategy(*j, "g.json", 8);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->pp, 2);
  EXPECT_EQ(s->pp_division, (std::vector<int>{1, 3}));
  EXPECT_EQ(s->micro_batches, 4);
  EXPECT_EQ(s->global_batch, 16);
  ASSERT_EQ(s->layers.size(), 4u);
  EXPECT_EQ(s->layers[0].dp, 4);                    // 8 / pp / tp
  EXPECT_EQ(s->layers[0].dp_type, DpType::kZero2);  // 0 -> default_dp_type
  EXPECT_EQ(s->layers[1].dp_type, DpType::kZero3);  // 1 -> ZeRO-3
  EXPECT_TRUE(s->layers[1].checkpoint);
  EXPECT_EQ(s->layers[3].tp, 2);
  EXPECT_EQ(s->layers[3].dp, 2);
  EXPECT_FALSE(s->layers[3].tp_consecutive);
  EXPECT_FALSE(s->layers[3].sp);  // --sequence-parallel is off by default
  EXPECT_EQ(s->embedding.tp, 2);
  EXPECT_EQ(s->embedding.dp, 2);
  EXPECT_EQ(s->embedding.dp_type, DpType::kZero3);  // embed_sdp
  // Megatron SP from the launch flag (option) or from the paratune key.
  StrategyImportOptions o;
  o.sequence_parallel = true;
  s = import_strategy(*j, "g.json", 8, o);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->layers[0].sp);  // tp 1
  EXPECT_TRUE(s->layers[2].sp);
  EXPECT_TRUE(s->embedding.sp);
  (*j)["sequence_parallel"] = 0;
  s = import_strategy(*j, "g.json", 8, o);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->layers[2].sp);
}

TEST(GalvatronStrategy, AbsentOptionalKeysTakeGalvatronsDefaults) {
  StatusOr<Json> j =
      parse(R"({"pp_deg": 4, "tp_sizes_enc": ")" + enc(30, "1") +
            R"(", "tp_consecutive_flags": ")" + enc(30, "1") + R"(", "dp_types_enc": ")" +
            enc(30, "0") + R"(", "global_bsz": 64, "chunks": -1})");
  ASSERT_TRUE(j.ok());
  StatusOr<Strategy> s = import_strategy(*j, "g.json", 16);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->pp_division, (std::vector<int>{7, 7, 7, 9}));  // remainder on the last stage
  EXPECT_EQ(s->micro_batches, 4);                             // chunks -1: ceil((64 / (16/4)) / 4)
  for (const LayerStrategy& l : s->layers) {
    EXPECT_EQ(l.dp_type, DpType::kDdp);  // default_dp_type "ddp"
    EXPECT_FALSE(l.checkpoint);
    EXPECT_EQ(l.dp, 4);
  }
  EXPECT_EQ(s->embedding.tp, 1);
  EXPECT_EQ(s->embedding.dp_type, DpType::kDdp);
  (*j)["pp_deg"] = 1;
  s = import_strategy(*j, "g.json", 16);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->micro_batches, 1);  // no pipeline: one chunk
}

TEST(GalvatronStrategy, StrictAboutTypesAndShapes) {
  const std::string base = R"({"pp_deg": 2, "tp_sizes_enc": "1,2,2,1",
      "tp_consecutive_flags": "1,1,1,1", "dp_types_enc": "0,0,0,0", "global_bsz": 8,
      "chunks": 2)";
  const auto fails_with = [&](const std::string& extra, const std::string& what,
                              const std::string& replace_from = "",
                              const std::string& replace_to = "") {
    std::string text = base + extra + "}";
    if (!replace_from.empty())
      text.replace(text.find(replace_from), replace_from.size(), replace_to);
    StatusOr<Json> j = parse(text);
    ASSERT_TRUE(j.ok()) << text;
    StatusOr<Strategy> s = import_strategy(*j, "g.json", 8);
    ASSERT_FALSE(s.ok()) << what;
    EXPECT_NE(s.status().message().find(what), std::string::npos) << s.status().message();
  };
  {
    StatusOr<Json> j = parse(base + "}");
    ASSERT_TRUE(import_strategy(*j, "g.json", 8).ok());
  }
  fails_with("", "g.json: field \"pp_deg\": expected an integer", "\"pp_deg\": 2",
             "\"pp_deg\": \"2\"");
  fails_with("", "field \"tp_sizes_enc\": expected a string", "\"1,2,2,1\"", "[1,2,2,1]");
  fails_with("", "field \"tp_sizes_enc\": element 1 \"x\"", "1,2,2,1", "1,x,2,1");
  fails_with(", \"checkpoint\": \"0,1,0\"", "\"checkpoint\": has 3 entries, tp_sizes_enc has 4");
  fails_with(", \"checkpoint\": \"0,2,0,0\"", "\"checkpoint\": element 1 \"2\"");
  fails_with(", \"use_sp\": \"0,1,0,0\"", "layer 1: Ulysses sequence parallelism");
  fails_with(", \"vtp\": 2, \"vsp\": 1", "\"vsp\": Ulysses");
  fails_with(", \"pp_division\": \"1,2\"", "\"pp_division\": \"1,2\" must have pp_deg = 2 entries");
  fails_with(", \"default_dp_type\": \"fsdp\"", "\"default_dp_type\"");
  fails_with(", \"cp_sizes_enc\": \"1,2,1,1\"", "\"cp_sizes_enc\": element 1");
  fails_with(", \"hetero\": 1", "field \"hetero\"");
  fails_with("", "tp 8 is not a power of two dividing the 4 devices", "1,2,2,1", "1,8,2,1");
  fails_with("", "\"pp_deg\": must be a power of two", "\"pp_deg\": 2", "\"pp_deg\": 3");
}

TEST(GalvatronStrategy, SampleConfigImports) {
  const std::string path = repo_root() + "/configs/galvatron/galvatron_config_llama2-7b_8gpus.json";
  StatusOr<Strategy> s = load_strategy(path, 8);
  ASSERT_TRUE(s.ok()) << s.status().message();
  const Status st = validate(*s, llama2_7b(), path);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(s->pp, 2);
  EXPECT_EQ(s->layers.size(), 32u);
  StatusOr<Json> back = export_strategy(*s);
  ASSERT_TRUE(back.ok()) << back.status().message();
  StatusOr<Strategy> again = import_strategy(*back, "exported", 8);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *s);
}

}  // namespace
}  // namespace paratune::galvatron
