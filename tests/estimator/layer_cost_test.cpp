#include "estimator/layer_cost.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "fixtures.h"

namespace paratune::estimator {
namespace {

using testing::strategy;

class LayerCostTest : public ::testing::Test {
 protected:
  ModelConfig model_ = testing::tiny_model();
  ClusterProfile cluster_ = testing::two_level_cluster(2, 4);  // 10 GB/s inside, 1 GB/s across
  ModelProfile profile_ = testing::tiny_profile();
  double params_ = static_cast<double>(model_.layer_param_count());
  // Norms and row-parallel biases: every TP rank keeps all of them (4h + 2h = 384).
  double replicated_ = static_cast<double>(model_.layer_tp_replicated_param_count());
  double tp2_shard_ = (params_ - replicated_) / 2 + replicated_;
};

TEST_F(LayerCostTest, DataParallelGolden) {
  // 2 devices of island 0, batch 4, one micro-batch: b = 2, forward 1 + 2 = 3 ms, backward 6.
  CostContext ctx = testing::context(model_, cluster_, &profile_, 2, 1, 1, 4);
  ctx.options.overlap_grad_sync = true;  // DDP hooks: the allreduce hides behind the backward
  LayerCost c = transformer_layer_cost(ctx, 0, strategy(1, 2));
  ASSERT_TRUE(c.feasible) << c.why_not;
  EXPECT_DOUBLE_EQ(c.forward.value, 3.0);
  EXPECT_DOUBLE_EQ(c.backward.value, 6.0);
  EXPECT_EQ(c.tp_comm.value, 0.0);
  // allreduce of P * 4 bytes over 2 at 10 GB/s: 2 * 1/2 * 4P / 1e10 * 1e3 ms.
  EXPECT_NEAR(c.grad_sync.value, params_ * 4 / 1e10 * 1e3, 1e-12);
  EXPECT_EQ(c.grad_sync_exposed.value, 0.0);  // hidden behind the 6 ms backward
  EXPECT_DOUBLE_EQ(c.model_states.value, params_ * 16);
  EXPECT_DOUBLE_EQ(c.activation_per_micro_batch.value, 2 * 1000.0);
  EXPECT_DOUBLE_EQ(c.transient.value, params_ * 4);  // autograd's gradient while accumulated
  ctx.options.overlap_grad_sync = false;
  LayerCost exposed = transformer_layer_cost(ctx, 0, strategy(1, 2));
  EXPECT_DOUBLE_EQ(exposed.grad_sync_exposed.value, exposed.grad_sync.value);
}

TEST_F(LayerCostTest, OptimizerStepOnTheRanksOwnParametersIsExposed) {
  // Proportional optimizer profile: 1 ms per 1000 parameters.
  profile_.optimizer_step = {OptimizerPoint{1000, Milliseconds(1.0)}};
  CostContext ctx = testing::context(model_, cluster_, &profile_, 4, 1, 1, 8);
  ModelProfile none = testing::tiny_profile();
  CostContext base = testing::context(model_, cluster_, &none, 4, 1, 1, 8);
  struct Case { LayerStrategy ls; double params; };
  for (const Case& k : {Case{strategy(1, 4), params_},                       // DDP: all of it
                        Case{strategy(2, 2), tp2_shard_},                    // its TP shard
                        Case{strategy(1, 4, DpType::kZero2), params_ / 4},   // ZeRO: 1 / d
                        Case{strategy(2, 2, DpType::kZero3), tp2_shard_ / 2}}) {
    const LayerCost c = transformer_layer_cost(ctx, 0, k.ls);
    const LayerCost b = transformer_layer_cost(base, 0, k.ls);
    ASSERT_TRUE(c.feasible) << c.why_not;
    EXPECT_NEAR(c.optimizer.value, k.params / 1000.0, 1e-9) << to_string(k.ls);
    EXPECT_NEAR(c.grad_sync_exposed.value, b.grad_sync_exposed.value + c.optimizer.value, 1e-9);
    EXPECT_EQ(c.grad_sync, b.grad_sync);  // communication only
    EXPECT_EQ(c.forward, b.forward);
    EXPECT_EQ(c.backward, b.backward);
    EXPECT_EQ(b.optimizer.value, 0.0);
  }
}

TEST_F(LayerCostTest, CheckpointTradesActivationForOneForward) {
  CostContext ctx = testing::context(model_, cluster_, &profile_, 2, 1, 1, 4);
  LayerCost plain = transformer_layer_cost(ctx, 0, strategy(1, 2));
  LayerCost ckpt = transformer_layer_cost(ctx, 0, strategy(1, 2, DpType::kDdp, true));
  ASSERT_TRUE(ckpt.feasible);
  EXPECT_DOUBLE_EQ(ckpt.forward.value, plain.forward.value);
  EXPECT_DOUBLE_EQ(ckpt.backward.value, plain.backward.value + plain.forward.value);
  EXPECT_DOUBLE_EQ(ckpt.activation_per_micro_batch.value, 2 * 100.0);
  EXPECT_LT(ckpt.activation_per_micro_batch, plain.activation_per_micro_batch);
  EXPECT_DOUBLE_EQ(ckpt.transient.value - plain.transient.value,
                   plain.activation_per_micro_batch.value);
  EXPECT_EQ(ckpt.model_states, plain.model_states);
}

TEST_F(LayerCostTest, CheckpointedForwardRunsWithoutAutogradWhereMeasured) {
  // The fixture's forward at b = 2 is 3 ms; the first forward of a checkpointed layer records no
  // graph: 1.25 ms measured. The recompute in the backward is a full forward (3 ms).
  for (ComputePoint& c : profile_.layer_types[0].compute)
    c.forward_no_grad = Milliseconds(c.forward.value * 1.25 / 3.0);
  CostContext ctx = testing::context(model_, cluster_, &profile_, 2, 1, 1, 4);
  LayerCost plain = transformer_layer_cost(ctx, 0, strategy(1, 2));
  LayerCost ckpt = transformer_layer_cost(ctx, 0, strategy(1, 2, DpType::kDdp, true));
  ASSERT_TRUE(ckpt.feasible) << ckpt.why_not;
  EXPECT_DOUBLE_EQ(plain.forward.value, 3.0);  // not checkpointed: the forward with autograd
  EXPECT_NEAR(ckpt.forward.value, 1.25, 1e-12);
  EXPECT_DOUBLE_EQ(ckpt.backward.value, plain.backward.value + plain.forward.value);
}

TEST_F(LayerCostTest, TensorParallelCommOnlyWithTpAndSlowerAcrossIslands) {
  // tp 2 on 2 devices of one island, b = 4: each allreduce moves A = 4*16*64*4 bytes,
  // 2 * 1/2 * A / 1e10 * 1e3 ms; two in forward, two in backward (+2 with checkpoint).
  CostContext ctx = testing::context(model_, cluster_, &profile_, 2, 1, 1, 4);
  const double one = 4.0 * 16 * 64 * 4 / 1e10 * 1e3;
  LayerCost tp = transformer_layer_cost(ctx, 0, strategy(2, 1));
  ASSERT_TRUE(tp.feasible) << tp.why_not;
  EXPECT_NEAR(tp.tp_comm.value, 4 * one, 1e-15);
  EXPECT_NEAR(tp.forward.value, (1 + 4.0 / 2) + 2 * one, 1e-12);
  EXPECT_EQ(tp.grad_sync.value, 0.0);
  EXPECT_DOUBLE_EQ(replicated_, 6 * 64.0);
  EXPECT_DOUBLE_EQ(tp.model_states.value, tp2_shard_ * 16);
  LayerCost tp_ckpt = transformer_layer_cost(ctx, 0, strategy(2, 1, DpType::kDdp, true));
  EXPECT_NEAR(tp_ckpt.tp_comm.value, 6 * one, 1e-15);
  // sp: allgather + reduce_scatter instead of each allreduce, the same bus traffic; and in each
  // backward the allreduce of the replicated parameters' gradients (each rank saw its half of
  // the sequence): 2 * 1/2 * 384 * 4 / 1e10 * 1e3 ms.
  LayerCost sp = transformer_layer_cost(ctx, 0, strategy(2, 1, DpType::kDdp, false, true, true));
  const double sync = replicated_ * 4 / 1e10 * 1e3;
  EXPECT_NEAR(sp.tp_comm.value, tp.tp_comm.value + sync, 1e-15);
  EXPECT_NEAR(sp.backward.value, tp.backward.value + sync, 1e-12);
  EXPECT_NEAR(sp.forward.value, tp.forward.value, 1e-12);
  EXPECT_DOUBLE_EQ(sp.activation_per_micro_batch.value, 4 * 500.0);

  // 2 islands x 2 devices: tp2 on consecutive ranks stays inside an island, tp2 on strided
  // ranks crosses (10x slower links); tp1 has no TP traffic at all.
  ClusterProfile small = testing::two_level_cluster(2, 2);
  CostContext ctx4 = testing::context(model_, small, &profile_, 4, 1, 1, 8);
  LayerCost intra = transformer_layer_cost(ctx4, 0, strategy(2, 2, DpType::kDdp, false, true));
  LayerCost inter = transformer_layer_cost(ctx4, 0, strategy(2, 2, DpType::kDdp, false, false));
  LayerCost none = transformer_layer_cost(ctx4, 0, strategy(1, 4));
  ASSERT_TRUE(intra.feasible && inter.feasible && none.feasible);
  EXPECT_GT(intra.tp_comm.value, 0.0);
  EXPECT_NEAR(inter.tp_comm.value, 10 * intra.tp_comm.value, 1e-12);
  EXPECT_EQ(none.tp_comm.value, 0.0);
}

TEST_F(LayerCostTest, Zero3ShardsStatesByDpAndGathersParams) {
  CostContext ctx = testing::context(model_, cluster_, &profile_, 4, 1, 1, 8);
  LayerCost ddp = transformer_layer_cost(ctx, 0, strategy(1, 4));
  LayerCost z2 = transformer_layer_cost(ctx, 0, strategy(1, 4, DpType::kZero2));
  LayerCost z3 = transformer_layer_cost(ctx, 0, strategy(1, 4, DpType::kZero3));
  ASSERT_TRUE(ddp.feasible && z2.feasible && z3.feasible);
  EXPECT_DOUBLE_EQ(z3.model_states.value, ddp.model_states.value / 4);
  EXPECT_DOUBLE_EQ(z2.model_states.value, params_ * (4 + 12.0 / 4));
  // Per micro-batch allgather of P*4 bytes over 4 at 10 GB/s, in forward and in backward.
  const double gather = 0.75 * params_ * 4 / 1e10 * 1e3;
  EXPECT_NEAR(z3.forward.value, ddp.forward.value + gather, 1e-12);
  EXPECT_NEAR(z3.zero3_gather.value, 2 * gather, 1e-12);
  // Gathered params (4P) + flat gradient, alltoall buffer and the 1/4 result (4P * 2.25).
  // The flat copy, alltoall buffer and 1/4 result (4P * 2.25) exist only after the backward
  // freed the micro-batch's activation; before, autograd's gradient (4P) does. ZeRO-3 also holds
  // the gathered parameters (4P) through both.
  const double act = ddp.activation_per_micro_batch.value;
  ASSERT_GT(act, 0.0);
  const double after = params_ * 4 * 2.25 - act;
  EXPECT_DOUBLE_EQ(z2.transient.value, std::max(params_ * 4, after));
  EXPECT_DOUBLE_EQ(z3.transient.value, params_ * 4 + std::max(params_ * 4, after));
  EXPECT_LT(z2.transient.value, params_ * 4 * 2.25);
  EXPECT_GE(z2.transient.value, ddp.transient.value);
  EXPECT_DOUBLE_EQ(ddp.transient.value, params_ * 4);
  // DDP allreduce = reduce_scatter + allgather: ZeRO-2's sync equals it, ZeRO-3's is half.
  EXPECT_NEAR(z2.grad_sync.value, ddp.grad_sync.value, 1e-12);
  EXPECT_NEAR(z3.grad_sync.value, ddp.grad_sync.value / 2, 1e-12);
  // The reduce-scatter runs in every micro-batch's backward (the executor keeps only the
  // shard); what is left at the iteration's end is ZeRO-2's allgather after the step.
  EXPECT_NEAR(z2.backward.value, ddp.backward.value + gather, 1e-12);
  EXPECT_NEAR(z3.backward.value, ddp.backward.value + 2 * gather, 1e-12);  // + the allgather
  EXPECT_NEAR(z2.grad_sync_exposed.value, gather, 1e-12);
  EXPECT_NEAR(z3.grad_sync_exposed.value, 0.0, 1e-12);
  EXPECT_NEAR(ddp.grad_sync_exposed.value, ddp.grad_sync.value, 1e-12);
  // With 2 micro-batches the reduce-scatter is paid twice, the allreduce of DDP once.
  CostContext ctx4 = testing::context(model_, cluster_, &profile_, 4, 1, 2, 8);
  LayerCost ddp4 = transformer_layer_cost(ctx4, 0, strategy(1, 4));
  LayerCost z2m = transformer_layer_cost(ctx4, 0, strategy(1, 4, DpType::kZero2));
  ASSERT_TRUE(ddp4.feasible && z2m.feasible);
  EXPECT_NEAR(z2m.grad_sync.value, 2 * gather + gather, 1e-12);
  EXPECT_NEAR(ddp4.grad_sync.value, 2 * gather, 1e-12);
  // With overlap, ZeRO-2's allgather follows the optimizer step: exposed even behind a long
  // backward.
  ctx.options.overlap_grad_sync = true;
  LayerCost z2o = transformer_layer_cost(ctx, 0, strategy(1, 4, DpType::kZero2));
  EXPECT_NEAR(z2o.grad_sync_exposed.value, gather, 1e-12);
}

// ZeRO's collectives pay an arrival wait only where the compute before them did not end with a
// TP collective: tp 1 waits before the forward gather and the reduce-scatter; tp 2 (its last
// TP collective leaves the ranks in step) waits before neither; the backward gather follows
// the previous unit's reduce-scatter and never waits.
TEST_F(LayerCostTest, ZeroWaitsOnlyAfterComputeThatEndsOutOfStep) {
  ArrivalWait w;  // a flat 2 ms after any compute, every group of this cluster
  w.samples = {WaitSample{Milliseconds(0.001), Milliseconds(2)},
               WaitSample{Milliseconds(1000), Milliseconds(2)}};
  for (int n : {2, 4}) {
    for (Placement p : {Placement::kIntraIsland, Placement::kInterIsland}) {
      w.group_size = n;
      w.placement = p;
      cluster_.arrival_waits.push_back(w);
    }
  }
  CostContext ctx = testing::context(model_, cluster_, &profile_, 4, 1, 1, 8);
  CostContext plain = ctx;
  ClusterProfile no_waits = cluster_;
  no_waits.arrival_waits.clear();
  plain.cluster = &no_waits;
  const double kWait = 2.0;
  // tp 1, dp 4: forward gather + reduce-scatter wait; the backward gather does not.
  const LayerStrategy z3 = strategy(1, 4, DpType::kZero3), z2 = strategy(1, 4, DpType::kZero2);
  EXPECT_NEAR(transformer_layer_cost(ctx, 0, z3).forward.value,
              transformer_layer_cost(plain, 0, z3).forward.value + kWait, 1e-12);
  EXPECT_NEAR(transformer_layer_cost(ctx, 0, z3).backward.value,
              transformer_layer_cost(plain, 0, z3).backward.value + kWait, 1e-12);
  EXPECT_NEAR(transformer_layer_cost(ctx, 0, z2).backward.value,
              transformer_layer_cost(plain, 0, z2).backward.value + kWait, 1e-12);
  // LayerCost::waits reports what was charged (the pipeline shrinks it at solo speed).
  EXPECT_NEAR(transformer_layer_cost(ctx, 0, z3).waits.value, 2 * kWait, 1e-12);
  EXPECT_NEAR(transformer_layer_cost(ctx, 0, z2).waits.value, kWait, 1e-12);
  EXPECT_NEAR(transformer_layer_cost(ctx, 0, strategy(1, 4)).waits.value, 0.0, 1e-12);
  EXPECT_NEAR(transformer_layer_cost(plain, 0, z3).waits.value, 0.0, 1e-12);
  // tp 2, dp 2: only the TP collectives wait (2 per direction, flat 2 ms each).
  for (DpType t : {DpType::kDdp, DpType::kZero2, DpType::kZero3}) {
    const LayerStrategy s = strategy(2, 2, t);
    const LayerCost with = transformer_layer_cost(ctx, 0, s);
    const LayerCost without = transformer_layer_cost(plain, 0, s);
    ASSERT_TRUE(with.feasible && without.feasible);
    EXPECT_NEAR(with.forward.value, without.forward.value + 2 * kWait, 1e-12) << to_string(t);
    EXPECT_NEAR(with.backward.value, without.backward.value + 2 * kWait, 1e-12) << to_string(t);
    EXPECT_NEAR(with.waits.value, 4 * kWait, 1e-12) << to_string(t);
  }
}

TEST_F(LayerCostTest, SequenceParallelSyncsReplicatedGradientsEveryMicroBatch) {
  // pp 2 on 4 devices of island 0, tp 2 per stage, b = 4: A = 4 * 16 * 64 * 4 bytes of
  // activations. With SP each TP rank holds half of the sequence, so the executor allreduces
  // the gradients of the parameters it does not split (learned positions on the embedding, the
  // final norm on the head) after every micro-batch's backward.
  CostContext ctx = testing::context(model_, cluster_, &profile_, 4, 2, 1, 4);
  const auto ms = [](double bytes) { return bytes / 1e10 * 1e3; };  // 10 GB/s bus
  const double a = 4.0 * 16 * 64 * 4;
  const LayerStrategy plain = strategy(2, 1), sp = strategy(2, 1, DpType::kDdp, false, true, true);
  const LayerCost emb = embedding_cost(ctx, 0, plain), emb_sp = embedding_cost(ctx, 0, sp);
  const LayerCost head = embedding_cost(ctx, 1, plain), head_sp = embedding_cost(ctx, 1, sp);
  ASSERT_TRUE(emb.feasible && emb_sp.feasible && head.feasible && head_sp.feasible);
  // Embedding: the forward's reduce-scatter (A/2 of bus traffic, the allreduce's A) comes back
  // as an allgather of the gradient (A/2), then the 16 x 64 positions' gradient is allreduced.
  EXPECT_NEAR(emb_sp.forward.value, emb.forward.value - ms(a / 2), 1e-12);
  EXPECT_NEAR(emb_sp.backward.value, emb.backward.value + ms(a / 2) + ms(16 * 64 * 4), 1e-12);
  // Head: a reduce-scatter instead of the input gradient's allreduce, then the norm's 2 x 64.
  EXPECT_NEAR(head_sp.backward.value, head.backward.value - ms(a / 2) + ms(128 * 4), 1e-12);
  // Without SP every TP rank computes the same gradient of those: nothing to sync.
  EXPECT_NEAR(emb.tp_comm.value, ms(a), 1e-12);  // only the forward's allreduce
  const LayerCost layer = transformer_layer_cost(ctx, 0, plain);
  const LayerCost layer_sp = transformer_layer_cost(ctx, 0, sp);
  EXPECT_NEAR(layer_sp.backward.value - layer.backward.value, ms(replicated_ * 4), 1e-12);
  // Memory: the replicated parameters are whole on each TP rank.
  EXPECT_DOUBLE_EQ(layer.model_states.value, tp2_shard_ * 16);

  // SP's sequence allgather holds the gathered shards and Gloo's flat copy of them in the
  // forward: 2 x the micro-batch activation. At b = 64 that exceeds the backward's gradient.
  CostContext big = testing::context(model_, cluster_, &profile_, 2, 1, 1, 64);
  const double act64 = 64.0 * 16 * 64 * 4;
  const LayerCost plain64 = transformer_layer_cost(big, 0, plain);
  const LayerCost sp64 = transformer_layer_cost(big, 0, sp);
  ASSERT_TRUE(plain64.feasible && sp64.feasible);
  EXPECT_DOUBLE_EQ(plain64.transient.value, tp2_shard_ * 4);  // the gradient only
  ASSERT_GT(2 * act64, tp2_shard_ * 4);
  EXPECT_DOUBLE_EQ(sp64.transient.value, 2 * act64);
}

TEST_F(LayerCostTest, CallsCountTheBlockingCollectivesOfAMicroBatch) {
  // 8 devices, pp 1: what the executor calls per micro-batch on one rank.
  CostContext ctx = testing::context(model_, cluster_, &profile_, 8, 1, 1, 8);
  auto calls = [&](const LayerStrategy& s) { return transformer_layer_cost(ctx, 0, s).calls; };
  EXPECT_EQ(calls(strategy(1, 8)), 0.0);                    // DDP: the sync is per iteration
  EXPECT_EQ(calls(strategy(1, 8, DpType::kZero2)), 1.0);    // the gradient's reduce-scatter
  EXPECT_EQ(calls(strategy(1, 8, DpType::kZero3)), 3.0);    // + the forward's and backward's gathers
  EXPECT_EQ(calls(strategy(2, 4)), 4.0);                    // TP: 2 allreduces each way
  EXPECT_EQ(calls(strategy(2, 4, DpType::kDdp, true)), 6.0);  // + the recompute's 2
  // SP: an allgather and a reduce-scatter for each allreduce, and the replicated gradients'.
  EXPECT_EQ(calls(strategy(2, 4, DpType::kDdp, false, true, true)), 9.0);
  EXPECT_EQ(calls(strategy(2, 4, DpType::kZero3, true, true, true)), 2 * 6.0 + 1 + 3);
  // Embedding + head on one stage: the embedding's allreduce, the loss's 3, the input
  // gradient's; with SP a reduce-scatter, its backward allgather and the positions' sync, the
  // head's allgather, the loss's 3, the reduce-scatter and the norm's sync.
  EXPECT_EQ(embedding_cost(ctx, 0, strategy(1, 8)).calls, 0.0);
  EXPECT_EQ(embedding_cost(ctx, 0, strategy(2, 4)).calls, 5.0);
  EXPECT_EQ(embedding_cost(ctx, 0, strategy(2, 4, DpType::kDdp, false, true, true)).calls, 9.0);
}

TEST_F(LayerCostTest, InfeasibleLayouts) {
  // batch 8 in 4 micro-batches of 2 samples cannot be split over dp 4.
  CostContext ctx = testing::context(model_, cluster_, &profile_, 4, 1, 4, 8);
  LayerCost c = transformer_layer_cost(ctx, 0, strategy(1, 4));
  EXPECT_FALSE(c.feasible);
  EXPECT_NE(c.why_not.find("micro-batch 2 not divisible by dp 4"), std::string::npos) << c.why_not;
  EXPECT_TRUE(transformer_layer_cost(ctx, 0, strategy(2, 2)).feasible);
  EXPECT_FALSE(transformer_layer_cost(ctx, 0, strategy(2, 1)).feasible);  // 2 != 4 devices
  EXPECT_FALSE(transformer_layer_cost(ctx, 0, strategy(1, 4, DpType::kDdp, false, true, true))
                   .feasible);  // sp without tp
  CostContext ctx8 = testing::context(model_, cluster_, &profile_, 8, 1, 1, 8);
  LayerCost tp8 = transformer_layer_cost(ctx8, 0, strategy(8, 1));  // 4 heads
  EXPECT_FALSE(tp8.feasible);
  EXPECT_NE(tp8.why_not.find("heads"), std::string::npos);
}

TEST_F(LayerCostTest, EmbeddingOnFirstHeadOnLastNothingInBetween) {
  CostContext ctx = testing::context(model_, cluster_, &profile_, 4, 4, 1, 4);
  LayerStrategy ls = strategy(1, 1);
  LayerCost first = embedding_cost(ctx, 0, ls);
  LayerCost middle = embedding_cost(ctx, 1, ls);
  LayerCost last = embedding_cost(ctx, 3, ls);
  ASSERT_TRUE(first.feasible && middle.feasible && last.feasible);
  EXPECT_EQ(middle.forward.value + middle.backward.value, 0.0);
  EXPECT_EQ(middle.model_states.value, 0.0);
  // b = 4: embedding 0.1 ms/sample, head 0.5 ms/sample (measured lines through the origin).
  EXPECT_NEAR(first.forward.value, 0.4, 1e-12);
  EXPECT_NEAR(last.forward.value, 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(first.model_states.value, model_.embedding_param_count() * 16.0);
  // Tied embeddings: the last stage keeps its own copy of the vocab x hidden matrix.
  EXPECT_DOUBLE_EQ(last.model_states.value, (model_.head_param_count() + 128.0 * 64) * 16.0);
  EXPECT_GT(last.transient.value, 0.0);  // fp32 logits of the loss

  // pp == 1: both on the one stage, the tied matrix counted once.
  CostContext one = testing::context(model_, cluster_, &profile_, 1, 1, 1, 4);
  LayerCost both = embedding_cost(one, 0, ls);
  EXPECT_NEAR(both.forward.value, 2.4, 1e-12);
  EXPECT_DOUBLE_EQ(both.model_states.value,
                   (model_.embedding_param_count() + model_.head_param_count()) * 16.0);
  EXPECT_FALSE(embedding_cost(one, 0, strategy(1, 2)).feasible);
}

}  // namespace
}  // namespace paratune::estimator
