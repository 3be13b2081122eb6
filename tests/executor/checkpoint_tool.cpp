// Helper of the checkpoint tests (tests/executor/checkpoint_test.sh):
//   checkpoint_tool --emit DIR
//       writes tiny-gpt.json, tiny-llama.json and the plans: A (4 ranks, pp2 uneven, mixed
//       tp/sp/ZeRO-2/3/checkpointing, vocab-parallel embedding) that checkpoints are written
//       under, and the plans they are resumed under: B (4 ranks, pp1, other tp/dp/ZeRO per
//       layer), C (4 ranks, pp4 uneven), D (2 ranks, pp1), E (8 ranks, pp1), S (1 rank).
//   checkpoint_tool --compare REF.json GOT.json --from K --rtol R
//       compares the per-step losses of two `paratune train --metrics` files for steps
//       K..last of GOT (GOT must start at step K and REF must hold them); rtol 0 = bit-exact.
//       Prints each step; exit 1 when a loss differs or steps are missing.
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "core/json_reader.h"
#include "tests/executor/plans.h"

using namespace paratune;
using namespace paratune::executor;

namespace {

LayerStrategy ls(int tp, int dp, DpType t = DpType::kDdp, bool consecutive = true, bool sp = false,
                 bool ckpt = false) {
  LayerStrategy l;
  l.tp = tp;
  l.dp = dp;
  l.dp_type = dp > 1 ? t : DpType::kDdp;
  l.tp_consecutive = consecutive;
  l.sp = sp;
  l.checkpoint = ckpt;
  return l;
}

Strategy plan(int devices, int pp, std::vector<int> division, int micro, LayerStrategy emb,
              std::vector<LayerStrategy> cycle, int layers) {
  Strategy s = testing::uniform_plan(devices, pp, emb, layers, 16, micro);
  s.pp_division = division;
  s.embedding = emb;
  for (int l = 0; l < layers; ++l) s.layers[l] = cycle[l % cycle.size()];
  return s;
}

int emit(const std::string& dir) {
  const DpType Z2 = DpType::kZero2, Z3 = DpType::kZero3, D = DpType::kDdp;
  const int L = 8;
  std::map<std::string, Strategy> plans;
  plans["A"] =
      plan(4, 2, {3, 5}, 4, ls(2, 1),
           {ls(2, 1), ls(1, 2, Z3), ls(2, 1, D, true, true), ls(1, 2, Z2, true, false, true)}, L);
  plans["B"] = plan(4, 1, {L}, 2, ls(1, 4, Z3),
                    {ls(4, 1), ls(2, 2, Z3, false), ls(1, 4, Z2), ls(2, 2, D, true, true)}, L);
  plans["C"] = plan(4, 4, {1, 3, 2, 2}, 4, ls(1, 1), {ls(1, 1), ls(1, 1, D, true, false, true)}, L);
  plans["D"] = plan(2, 1, {L}, 2, ls(1, 2, Z2), {ls(2, 1), ls(1, 2, Z3)}, L);
  plans["E"] = plan(8, 1, {L}, 2, ls(4, 2, Z3, false),
                    {ls(8, 1), ls(2, 4, Z3), ls(4, 2, Z2, true, true), ls(1, 8, D)}, L);
  plans["S"] = plan(1, 1, {L}, 1, ls(1, 1), {ls(1, 1)}, L);
  bool ok = write_file_atomic(dir + "/tiny-gpt.json", dump_json(to_json(testing::tiny_gpt()))).ok();
  ok = ok &&
       write_file_atomic(dir + "/tiny-llama.json", dump_json(to_json(testing::tiny_llama()))).ok();
  for (const auto& [name, s] : plans) {
    Status v = validate(s, testing::tiny_gpt(), name);
    Status w = validate(s, testing::tiny_llama(), name);
    if (!v.ok() || !w.ok()) {
      std::fprintf(stderr, "plan %s invalid: %s %s\n", name.c_str(), v.message().c_str(),
                   w.message().c_str());
      return 1;
    }
    ok = ok && write_file_atomic(dir + "/plan-" + name + ".json", dump_json(to_json(s))).ok();
  }
  return ok ? 0 : 1;
}

StatusOr<std::map<int64_t, double>> losses(const std::string& path) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_json_file(path));
  std::map<int64_t, double> out;
  if (!j.contains("steps") || !j["steps"].is_array()) return InvalidArgument(path + ": no steps");
  for (const Json& s : j["steps"]) out[s.at("step").get<int64_t>()] = s.at("loss").get<double>();
  return out;
}

int compare(const std::string& ref_path, const std::string& got_path, int64_t from, double rtol) {
  auto ref = losses(ref_path);
  auto got = losses(got_path);
  if (!ref.ok() || !got.ok()) {
    std::fprintf(stderr, "%s\n", (!ref.ok() ? ref.status() : got.status()).message().c_str());
    return 1;
  }
  if (got->empty() || got->begin()->first != from) {
    std::fprintf(stderr, "FAIL %s does not start at step %lld\n", got_path.c_str(),
                 static_cast<long long>(from));
    return 1;
  }
  double worst = 0;
  for (const auto& [step, loss] : *got) {
    auto it = ref->find(step);
    if (it == ref->end()) {
      std::fprintf(stderr, "FAIL step %lld missing in %s\n", static_cast<long long>(step),
                   ref_path.c_str());
      return 1;
    }
    const double rel = std::fabs(loss - it->second) / std::fabs(it->second);
    worst = std::max(worst, rel);
    std::printf("  step %lld  resumed %.9g  uninterrupted %.9g  rel err %.2e\n",
                static_cast<long long>(step), loss, it->second, rel);
  }
  const bool ok = rtol == 0 ? worst == 0 : worst <= rtol;
  std::printf("%s %zu steps from %lld, max rel err %.2e (%s)\n", ok ? "match" : "MISMATCH",
              got->size(), static_cast<long long>(from), worst,
              rtol == 0 ? "bit-exact required" : ("rtol " + std::to_string(rtol)).c_str());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--emit" && argc == 3) return emit(argv[2]);
  if (mode == "--compare" && argc == 8 && std::string(argv[4]) == "--from" &&
      std::string(argv[6]) == "--rtol")
    return compare(argv[2], argv[3], std::stoll(argv[5]), std::stod(argv[7]));
  std::fprintf(stderr, "usage: checkpoint_tool --emit DIR | --compare REF GOT --from K --rtol R\n");
  return 2;
}
