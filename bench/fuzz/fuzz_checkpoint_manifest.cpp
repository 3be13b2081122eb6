// libFuzzer target: checkpoint manifest reader (core/checkpoint_format.h).
#include "bench/fuzz/fuzz_util.h"
#include "core/checkpoint_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paratune;
  auto m = load_manifest(fuzz::input_file(data, size));
  if (!m.ok()) return 0;
  auto back = manifest_from_json(to_json(*m), "round-trip");
  if (!back.ok()) fuzz::finding("manifest round trip rejected: " + back.status().message());
  if (!(*back == *m)) fuzz::finding("manifest round trip changed the value");
  return 0;
}
