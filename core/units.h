// Strong unit types: milliseconds, bytes, bytes per second, FLOP/s.
//
// A Quantity<Tag> wraps a double; only same-unit arithmetic compiles, scaling by plain numbers
// is allowed, and dividing two quantities of one unit gives a plain ratio.
//
//   Bytes b = Bytes(2.0 * kGiB);  Milliseconds t = transfer_time(b, BytesPerSecond(1e9));
#pragma once

#include <cmath>

namespace paratune {

template <class Tag>
struct Quantity {
  double value = 0.0;

  constexpr Quantity() = default;
  constexpr explicit Quantity(double v) : value(v) {}

  constexpr Quantity operator+(Quantity o) const { return Quantity(value + o.value); }
  constexpr Quantity operator-(Quantity o) const { return Quantity(value - o.value); }
  constexpr Quantity operator*(double k) const { return Quantity(value * k); }
  constexpr Quantity operator/(double k) const { return Quantity(value / k); }
  constexpr double operator/(Quantity o) const { return value / o.value; }
  Quantity& operator+=(Quantity o) { value += o.value; return *this; }
  Quantity& operator-=(Quantity o) { value -= o.value; return *this; }
  Quantity& operator*=(double k) { value *= k; return *this; }
  constexpr bool operator==(Quantity o) const { return value == o.value; }
  constexpr bool operator!=(Quantity o) const { return value != o.value; }
  constexpr bool operator<(Quantity o) const { return value < o.value; }
  constexpr bool operator<=(Quantity o) const { return value <= o.value; }
  constexpr bool operator>(Quantity o) const { return value > o.value; }
  constexpr bool operator>=(Quantity o) const { return value >= o.value; }
};
template <class Tag>
constexpr Quantity<Tag> operator*(double k, Quantity<Tag> q) { return q * k; }

struct MillisecondsTag {};
struct BytesTag {};
struct BytesPerSecondTag {};
struct FlopsPerSecondTag {};

using Milliseconds = Quantity<MillisecondsTag>;      // wall time, ms
using Bytes = Quantity<BytesTag>;                    // memory or message size, bytes
using BytesPerSecond = Quantity<BytesPerSecondTag>;  // bandwidth, bytes/s
using FlopsPerSecond = Quantity<FlopsPerSecondTag>;  // compute throughput, FLOP/s

inline constexpr double kKiB = 1024.0;
inline constexpr double kMiB = 1024.0 * 1024.0;
inline constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

/// Time to move `b` at `bw`: bytes / (bytes/s) -> ms.
inline Milliseconds transfer_time(Bytes b, BytesPerSecond bw) {
  return Milliseconds(b.value / bw.value * 1e3);
}
/// Time to run `flops` at `rate` -> ms.
inline Milliseconds compute_time(double flops, FlopsPerSecond rate) {
  return Milliseconds(flops / rate.value * 1e3);
}

inline bool is_finite(double v) { return std::isfinite(v); }

using LayerIdx = int;     // index of a transformer layer, 0-based
using StrategyIdx = int;  // index into a per-layer candidate list
using StageIdx = int;     // pipeline stage, 0-based
using Rank = int;         // global device rank, 0-based

}  // namespace paratune
