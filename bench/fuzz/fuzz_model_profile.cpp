// libFuzzer target: model profile reader.
#include "bench/fuzz/fuzz_util.h"
#include "core/model_profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paratune;
  auto p = load_model_profile(fuzz::input_file(data, size));
  if (!p.ok()) return 0;
  auto back = model_profile_from_json(to_json(*p), "round-trip");
  if (!back.ok()) fuzz::finding("model profile round trip rejected: " + back.status().message());
  if (!(*back == *p)) fuzz::finding("model profile round trip changed the value");
  return 0;
}
