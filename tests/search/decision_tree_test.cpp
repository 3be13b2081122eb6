#include "search/decision_tree.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace paratune::search {
namespace {

// Galvatron's label "pp-tp-dp" with "*" on the side that takes consecutive devices (only when
// both tp and dp > 1), "f" for ZeRO-3 (fsdp), "c" for checkpointing, "s" for sequence parallel.
std::string galvatron_label(int pp, const LayerStrategy& s) {
  const bool both = s.tp > 1 && s.dp > 1;
  std::string l = std::to_string(pp) + "-" + std::to_string(s.tp);
  if (both && s.tp_consecutive) l += "*";
  l += "-" + std::to_string(s.dp);
  if (both && !s.tp_consecutive) l += "*";
  if (s.dp > 1 && s.dp_type == DpType::kZero3) l += "f";
  if (s.dp > 1 && s.dp_type == DpType::kZero2) l += "z2";
  if (s.sp) l += "s";
  if (s.checkpoint) l += "c";
  return l;
}

bool contains(const std::vector<LayerStrategy>& v, const LayerStrategy& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::map<int, int> path_counts(int n, const DecisionTreeOptions& o) {
  std::map<int, int> c;
  for (int pp = 1; pp <= n; pp *= 2)
    c[pp] = static_cast<int>(enumerate_tree_paths(n / pp, o).size());
  return c;
}

std::map<int, int> strategy_counts(int n, const DecisionTreeOptions& o) {
  std::map<int, int> c;
  for (const auto& [pp, v] : enumerate_by_pp(n, 0, o)) c[pp] = static_cast<int>(v.size());
  return c;
}

int total(const std::map<int, int>& c) {
  int t = 0;
  for (const auto& [pp, n] : c) t += n;
  return t;
}

TEST(DecisionTree, GalvatronMixedCountsOn8Devices) {
  const std::map<int, int> c = path_counts(8, DecisionTreeOptions::galvatron(false, false));
  EXPECT_EQ(c, (std::map<int, int>{{1, 21}, {2, 9}, {4, 3}, {8, 1}}));
  EXPECT_EQ(total(c), 34);
  EXPECT_EQ(total(path_counts(8, DecisionTreeOptions::galvatron(true, false))), 68);
}

TEST(DecisionTree, GalvatronPrunedCountsOn8Devices) {
  const std::map<int, int> paths = path_counts(8, DecisionTreeOptions::galvatron(false, true));
  EXPECT_EQ(paths, (std::map<int, int>{{1, 11}, {2, 7}, {4, 3}, {8, 1}}));
  // Without mixing every path is a LayerStrategy, one to one.
  EXPECT_EQ(strategy_counts(8, DecisionTreeOptions::galvatron(false, true)), paths);
  EXPECT_EQ(total(path_counts(8, DecisionTreeOptions::galvatron(true, true))), 44);
  EXPECT_EQ(total(strategy_counts(8, DecisionTreeOptions::galvatron(true, true))), 44);
}

TEST(DecisionTree, MixedPathsAreExactlyTheOnesWithoutLayerStrategy) {
  // The 12 extra paths of the unpruned space all mix DDP and ZeRO-3 in one tree, e.g. ddp2 over
  // zero3x4 (hybrid sharding); dropping them leaves exactly the pruned space.
  const DecisionTreeOptions mixed = DecisionTreeOptions::galvatron(false, false);
  const DecisionTreeOptions pruned = DecisionTreeOptions::galvatron(false, true);
  int mixing = 0;
  for (int g : {1, 2, 4, 8})
    for (const TreePath& p : enumerate_tree_paths(g, mixed)) {
      EXPECT_EQ(p.tp() * p.dp(), g) << to_string(p);
      EXPECT_EQ(p.mixes_dp_kinds(), !to_layer_strategy(p).has_value()) << to_string(p);
      mixing += p.mixes_dp_kinds();
    }
  EXPECT_EQ(mixing, 34 - 22);
  for (int g : {1, 2, 4, 8})
    EXPECT_EQ(enumerate_layer_strategies(g, mixed), enumerate_layer_strategies(g, pruned));
  // A three-level path of the mixed tree for 8 devices: one level per paradigm.
  const std::vector<TreePath> p8 = enumerate_tree_paths(8, mixed);
  const bool has = std::any_of(
      p8.begin(), p8.end(), [](const TreePath& p) { return to_string(p) == "ddpx2/tp2/zero3x2"; });
  EXPECT_TRUE(has);
}

TEST(DecisionTree, GalvatronPrunedSpaceIsExactlyThe22) {
  std::set<std::string> got;
  for (const auto& [pp, v] : enumerate_by_pp(8, 0, DecisionTreeOptions::galvatron(false, true)))
    for (const LayerStrategy& s : v) EXPECT_TRUE(got.insert(galvatron_label(pp, s)).second);
  const std::set<std::string> want = {
      "1-1-8",   "1-1-8f",  "1-2-4*", "1-2-4*f", "1-2*-4", "1-2*-4f", "1-4-2*",  "1-4-2*f",
      "1-4*-2",  "1-4*-2f", "1-8-1",  "2-1-4",   "2-1-4f", "2-2-2*",  "2-2-2*f", "2-2*-2",
      "2-2*-2f", "2-4-1",   "4-1-2",  "4-1-2f",  "4-2-1",  "8-1-1"};
  EXPECT_EQ(got, want);
}

TEST(DecisionTree, CheckpointingDoublesTheSpace) {
  for (int g : {1, 2, 4, 8}) {
    const std::vector<LayerStrategy> off =
        enumerate_layer_strategies(g, DecisionTreeOptions::galvatron(false, true));
    const std::vector<LayerStrategy> on =
        enumerate_layer_strategies(g, DecisionTreeOptions::galvatron(true, true));
    ASSERT_EQ(on.size(), 2 * off.size());
    for (LayerStrategy s : off) {
      EXPECT_TRUE(contains(on, s));
      s.checkpoint = true;
      EXPECT_TRUE(contains(on, s));
    }
  }
}

TEST(DecisionTree, DefaultSpaceIsAStrictSupersetOfGalvatrons) {
  const DecisionTreeOptions def;
  ASSERT_TRUE(def.validate().ok());
  // g=8: tp1: 3 dp types x ckpt = 6; tp2, tp4: 2 placements x 3 types x sp x ckpt = 24 each;
  // tp8: sp x ckpt = 4.
  EXPECT_EQ(strategy_counts(8, def), (std::map<int, int>{{1, 58}, {2, 34}, {4, 10}, {8, 2}}));
  EXPECT_GE(enumerate_layer_strategies(8, def).size(), 50u);
  for (int g : {1, 2, 4, 8}) {
    const std::vector<LayerStrategy> all = enumerate_layer_strategies(g, def);
    const std::vector<LayerStrategy> galv =
        enumerate_layer_strategies(g, DecisionTreeOptions::galvatron(true, true));
    for (const LayerStrategy& s : galv) EXPECT_TRUE(contains(all, s)) << galvatron_label(8 / g, s);
    // A one-device stage has only checkpointing to choose: the two spaces coincide there.
    if (g > 1) {
      EXPECT_GT(all.size(), galv.size());
    } else {
      EXPECT_EQ(all, galv);
    }
    for (const LayerStrategy& s : all) {
      EXPECT_EQ(s.tp * s.dp, g);
      if (s.sp) {
        EXPECT_GT(s.tp, 1);
      }
      if (s.tp == 1 || s.dp == 1) {
        EXPECT_TRUE(s.tp_consecutive);
      }
      if (s.dp == 1) {
        EXPECT_EQ(s.dp_type, DpType::kDdp);
      }
    }
  }
}

TEST(DecisionTree, OrderIsDeterministicAndDocumented) {
  const std::vector<LayerStrategy> v = enumerate_layer_strategies(4, DecisionTreeOptions());
  std::vector<std::string> labels;
  for (const LayerStrategy& s : v) labels.push_back(galvatron_label(2, s));
  const std::vector<std::string> want = {
      // tp1: ddp, zero2, zero3 (checkpoint off, on)
      "2-1-4", "2-1-4c", "2-1-4z2", "2-1-4z2c", "2-1-4f", "2-1-4fc",
      // tp2 consecutive
      "2-2*-2", "2-2*-2c", "2-2*-2s", "2-2*-2sc", "2-2*-2z2", "2-2*-2z2c", "2-2*-2z2s",
      "2-2*-2z2sc", "2-2*-2f", "2-2*-2fc", "2-2*-2fs", "2-2*-2fsc",
      // tp2 strided
      "2-2-2*", "2-2-2*c", "2-2-2*s", "2-2-2*sc", "2-2-2*z2", "2-2-2*z2c", "2-2-2*z2s",
      "2-2-2*z2sc", "2-2-2*f", "2-2-2*fc", "2-2-2*fs", "2-2-2*fsc",
      // tp4
      "2-4-1", "2-4-1c", "2-4-1s", "2-4-1sc"};
  EXPECT_EQ(labels, want);
  EXPECT_EQ(enumerate_layer_strategies(4, DecisionTreeOptions()), v);
}

TEST(DecisionTree, MaxTpCapsTheTpDegree) {
  DecisionTreeOptions o;
  o.max_tp = 2;
  const std::vector<LayerStrategy> all = enumerate_layer_strategies(8, DecisionTreeOptions());
  std::vector<LayerStrategy> want;
  for (const LayerStrategy& s : all)
    if (s.tp <= 2) want.push_back(s);
  EXPECT_EQ(enumerate_layer_strategies(8, o), want);
  EXPECT_EQ(want.size(), 6u + 24u);
  o.max_tp = 1;
  for (const LayerStrategy& s : enumerate_layer_strategies(8, o)) EXPECT_EQ(s.tp, 1);
}

TEST(DecisionTree, StridedTpAndSpAndDpKindsCanBeSwitchedOff) {
  DecisionTreeOptions o;
  o.allow_strided_tp = false;
  o.allow_sp = false;
  o.allow_checkpoint = false;
  o.allow_ddp = false;
  o.allow_zero2 = false;
  // zero3 only: tp1 zero3x8, tp2 and tp4 with TP innermost, tp8 (dp_type canonical ddp).
  std::vector<std::string> labels;
  for (const LayerStrategy& s : enumerate_layer_strategies(8, o))
    labels.push_back(galvatron_label(1, s));
  EXPECT_EQ(labels, (std::vector<std::string>{"1-1-8f", "1-2*-4f", "1-4*-2f", "1-8-1"}));
}

ModelConfig model(int heads, int kv_heads, int ffn_hidden) {
  ModelConfig m;
  m.name = "t";
  m.num_layers = 4;
  m.hidden = heads * 64;
  m.heads = heads;
  m.kv_heads = kv_heads;
  m.ffn_hidden = ffn_hidden;
  m.seq_len = 128;
  m.vocab = 1000;  // not divisible by 8: the vocabulary does not constrain layer TP
  return m;
}

TEST(DecisionTree, ModelFilterRemovesTpDegreesThatDoNotDivide) {
  const std::vector<LayerStrategy> all = enumerate_layer_strategies(8, DecisionTreeOptions());
  auto max_tp_of = [](const std::vector<LayerStrategy>& v) {
    int t = 0;
    for (const LayerStrategy& s : v) t = std::max(t, s.tp);
    return t;
  };
  auto expect_tp_up_to = [&](const ModelConfig& m, int cap) {
    const std::vector<LayerStrategy> got = filter_for_model(all, m);
    std::vector<LayerStrategy> want;
    for (const LayerStrategy& s : all)
      if (s.tp <= cap) want.push_back(s);
    EXPECT_EQ(got, want) << "heads " << m.heads << " kv " << m.kv_heads << " ffn " << m.ffn_hidden;
    EXPECT_EQ(max_tp_of(got), cap);
  };
  expect_tp_up_to(model(16, 16, 4096), 8);
  expect_tp_up_to(model(12, 12, 3072), 4);  // 12 heads: tp8 removed
  expect_tp_up_to(model(6, 6, 1536), 2);    // 6 heads: tp4, tp8 removed
  expect_tp_up_to(model(32, 2, 11008), 2);  // GQA with 2 kv heads
  expect_tp_up_to(model(16, 16, 12), 4);    // ffn 12
  EXPECT_TRUE(tp_fits_model(1, model(3, 1, 5)));
  EXPECT_FALSE(tp_fits_model(2, model(3, 1, 5)));

  // enumerate_by_pp with a model: filtered, and pp limited by the layer count (4 layers).
  const auto by_pp = enumerate_by_pp(8, 0, DecisionTreeOptions(), model(6, 6, 1536));
  EXPECT_EQ(by_pp.size(), 3u);  // pp 1, 2, 4
  EXPECT_EQ(by_pp.at(1).size(), 30u);
  EXPECT_EQ(by_pp.at(2).size(), 6u + 24u);
  EXPECT_EQ(by_pp.at(4).size(), 10u);
}

TEST(DecisionTree, EnumerateByPpHonoursMaxPpAndDivisibility) {
  const DecisionTreeOptions o;
  auto keys = [](const std::map<int, std::vector<LayerStrategy>>& m) {
    std::vector<int> k;
    for (const auto& [pp, v] : m) k.push_back(pp);
    return k;
  };
  EXPECT_EQ(keys(enumerate_by_pp(8, 0, o)), (std::vector<int>{1, 2, 4, 8}));
  EXPECT_EQ(keys(enumerate_by_pp(8, 2, o)), (std::vector<int>{1, 2}));
  EXPECT_EQ(keys(enumerate_by_pp(12, 0, o)), (std::vector<int>{1, 2, 4}));
  // 12 devices, pp4: a stage of 3 devices: tp1 dp3 only.
  const std::map<int, std::vector<LayerStrategy>> by_pp = enumerate_by_pp(12, 0, o);
  ASSERT_EQ(by_pp.at(4).size(), 6u);  // ddp, zero2, zero3 x checkpoint
  for (const LayerStrategy& s : by_pp.at(4)) {
    EXPECT_EQ(s.tp, 1);
    EXPECT_EQ(s.dp, 3);
  }
}

TEST(DecisionTree, ValidateRejectsNonsense) {
  EXPECT_TRUE(DecisionTreeOptions().validate().ok());
  EXPECT_TRUE(DecisionTreeOptions::galvatron(true, false).validate().ok());
  DecisionTreeOptions o;
  o.max_tp = -1;
  Status st = o.validate();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("max_tp"), std::string::npos) << st.message();
  o = DecisionTreeOptions();
  o.allow_ddp = o.allow_zero2 = o.allow_zero3 = false;
  st = o.validate();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("allow_ddp"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace paratune::search
