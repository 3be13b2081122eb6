#include "estimator/cost_context.h"

#include <cmath>

namespace paratune::estimator {

namespace {

Status check_size(const char* field, double v) {
  if (!std::isfinite(v) || v < 0) {
    return InvalidArgument(std::string("estimator options: field \"") + field +
                           "\" must be finite and >= 0, got " + std::to_string(v));
  }
  return Status::Ok();
}

}  // namespace

const char* to_string(CommUse u) { return u == CommUse::kTensor ? "tp" : "dp"; }

double TermScales::collective(CommUse use, CollectiveOp op, int group_size,
                              Placement placement) const {
  const CollectiveScale* any = nullptr;
  for (const CollectiveScale& c : collectives) {
    if (c.use != use || c.op != op || c.group_size != group_size) continue;
    if (c.placement == placement) return c.scale;
    if (!c.placement) any = &c;
  }
  return any ? any->scale : 1.0;
}

bool TermScales::identity() const {
  for (const CollectiveScale& c : collectives)
    if (c.scale != 1) return false;
  return compute == 1 && wait == 1 && pipeline == 1 && checkpoint == 1 && call_ms == 0 &&
         granularity == 0;
}

Status TermScales::validate() const {
  auto check = [](const std::string& field, double v) {
    if (!std::isfinite(v) || v < 1.0 / 16 || v > 16) {
      return InvalidArgument("term scales: field \"" + field + "\" must be in [1/16, 16], got " +
                             std::to_string(v));
    }
    return Status::Ok();
  };
  PARATUNE_RETURN_IF_ERROR(check("compute", compute));
  PARATUNE_RETURN_IF_ERROR(check("wait", wait));
  PARATUNE_RETURN_IF_ERROR(check("pipeline", pipeline));
  PARATUNE_RETURN_IF_ERROR(check("checkpoint", checkpoint));
  if (!std::isfinite(call_ms) || call_ms < 0 || call_ms > 16) {
    return InvalidArgument("term scales: field \"call_ms\" must be in [0, 16] ms, got " +
                           std::to_string(call_ms));
  }
  if (!std::isfinite(granularity) || granularity < -1 || granularity > 1) {
    return InvalidArgument("term scales: field \"granularity\" must be in [-1, 1], got " +
                           std::to_string(granularity));
  }
  if (!(granularity_lo > 0) || !(granularity_hi >= granularity_lo) ||
      !std::isfinite(granularity_hi)) {
    return InvalidArgument(
        "term scales: field \"granularity_range\" must be [lo, hi] with 0 < lo <= hi, got [" +
        std::to_string(granularity_lo) + ", " + std::to_string(granularity_hi) + "]");
  }
  for (size_t i = 0; i < collectives.size(); ++i) {
    const CollectiveScale& c = collectives[i];
    const std::string field = "collectives[" + std::to_string(i) + "]";
    if (c.group_size < 2) {
      return InvalidArgument("term scales: field \"" + field + ".group_size\" must be >= 2, got " +
                             std::to_string(c.group_size));
    }
    PARATUNE_RETURN_IF_ERROR(check(field + ".scale", c.scale));
    for (size_t k = 0; k < i; ++k) {
      if (collectives[k].use == c.use && collectives[k].op == c.op &&
          collectives[k].group_size == c.group_size && collectives[k].placement == c.placement) {
        return InvalidArgument("term scales: field \"" + field + "\": " + to_string(c.use) + " " +
                               to_string(c.op) + " over " + std::to_string(c.group_size) +
                               " ranks" +
                               (c.placement ? std::string(" ") + to_string(*c.placement) +
                                                  "-island"
                                            : std::string()) +
                               " is listed twice");
      }
    }
  }
  return Status::Ok();
}

Status EstimatorOptions::validate() const {
  PARATUNE_RETURN_IF_ERROR(scales.validate());
  PARATUNE_RETURN_IF_ERROR(check_size("runtime_buffer_bytes", runtime_buffer_bytes));
  PARATUNE_RETURN_IF_ERROR(check_size("grad_bucket_bytes", grad_bucket_bytes));
  if (!std::isfinite(analytic_efficiency) || analytic_efficiency <= 0 || analytic_efficiency > 1) {
    return InvalidArgument(
        "estimator options: field \"analytic_efficiency\" must be in (0, 1], got " +
        std::to_string(analytic_efficiency));
  }
  return Status::Ok();
}

double CostContext::runtime_buffer_bytes() const {
  if (cluster && cluster->device.runtime_buffer) return cluster->device.runtime_buffer->value;
  return options.runtime_buffer_bytes;
}

bool CostContext::mixed_precision() const {
  return model->dtype != DType::kFp32 && options.mixed_precision;
}

std::string CostContext::profile_source() const {
  if (profile == nullptr) return "analytic";
  return profile->source.empty() ? std::string("measured") : profile->source;
}

Status validate(const CostContext& ctx) {
  if (ctx.model == nullptr) return InvalidArgument("cost context: no model config");
  if (ctx.cluster == nullptr) return InvalidArgument("cost context: no cluster profile");
  PARATUNE_RETURN_IF_ERROR(ctx.options.validate());
  const int cluster_devices = ctx.cluster->num_devices();
  if (ctx.num_devices < 1 || ctx.num_devices > cluster_devices) {
    return InvalidArgument("cost context: num_devices " + std::to_string(ctx.num_devices) +
                           " must be in [1, " + std::to_string(cluster_devices) +
                           "] (devices of cluster \"" + ctx.cluster->name + "\")");
  }
  if (ctx.pp < 1 || ctx.num_devices % ctx.pp != 0) {
    return InvalidArgument("cost context: pp " + std::to_string(ctx.pp) +
                           " must divide num_devices " + std::to_string(ctx.num_devices));
  }
  if (ctx.micro_batches < 1 || ctx.global_batch < 1 || ctx.global_batch % ctx.micro_batches != 0) {
    return InvalidArgument("cost context: micro_batches " + std::to_string(ctx.micro_batches) +
                           " must divide global_batch " + std::to_string(ctx.global_batch));
  }
  if (ctx.model->num_layers < 1 || ctx.model->hidden < 1 || ctx.model->heads < 1 ||
      ctx.model->seq_len < 1) {
    return InvalidArgument("cost context: model \"" + ctx.model->name + "\" has empty sizes");
  }
  for (const char* type : {"transformer", "lm_head"}) {
    const LayerTypeProfile* p = ctx.profile == nullptr ? nullptr : ctx.profile->find(type);
    if ((p == nullptr || p->compute.empty()) && !(ctx.cluster->device.flops.value > 0)) {
      return InvalidArgument(std::string("cost context: the model profile has no \"") + type +
                             "\" compute points and cluster \"" + ctx.cluster->name +
                             "\" has no device.flops for the analytic compute model");
    }
  }
  return Status::Ok();
}

int local_micro_batch(const CostContext& ctx, int dp, std::string* why_not) {
  auto fail = [&](const std::string& msg) {
    if (why_not != nullptr) *why_not = msg;
    return 0;
  };
  if (ctx.micro_batches < 1 || ctx.global_batch % ctx.micro_batches != 0) {
    return fail("global batch " + std::to_string(ctx.global_batch) + " not divisible by " +
                std::to_string(ctx.micro_batches) + " micro-batches");
  }
  const int micro = ctx.global_batch / ctx.micro_batches;
  if (dp < 1 || micro % dp != 0) {
    return fail("micro-batch " + std::to_string(micro) + " not divisible by dp " +
                std::to_string(dp));
  }
  return micro / dp;
}

}  // namespace paratune::estimator
