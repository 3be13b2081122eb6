// libFuzzer target: model config reader (paratune format and Hugging Face config.json).
#include "bench/fuzz/fuzz_util.h"
#include "core/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paratune;
  auto m = load_model_config(fuzz::input_file(data, size));
  if (!m.ok()) return 0;
  (void)m->total_param_count();
  (void)m->layer_forward_flops_per_sample();
  (void)fingerprint(*m);
  auto back = model_config_from_json(to_json(*m), "round-trip");
  if (!back.ok()) fuzz::finding("model config round trip rejected: " + back.status().message());
  if (!(*back == *m)) fuzz::finding("model config round trip changed the value");
  return 0;
}
