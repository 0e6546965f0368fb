// The kernel-set table every instruction set fills in the same way, written once: each ISA
// file includes it last, inside its namespace (outside its anonymous one), after defining
//   QuantizeActs                           the activation quantizer
//   Q8_0, Q4_0, Q4_1                       RowBlocks32's block formats (rows-inl.hpp)
//   RowK<five>, RowQ6K, RowHalf<bf16>      the other types' rows
//   RowQ8Grouped, kGroupMultiple           Q8_GROUPED's row and the groups it handles
//   WiderRows(KernelSet&)                  its own better kernels over these (AVX-512), or none
// No include guard on purpose.

KernelSet MakeKernelSet(const char* name) {
  KernelSet k;
  k.name = name;
  k.quantize = QuantizeActs;
  auto set = [&](DType t, RowsFn fn) { k.rows[static_cast<int>(t)] = fn; };
  set(DType::F16, Rows<RowHalf<false>>);
  set(DType::BF16, Rows<RowHalf<true>>);
  set(DType::Q8_0, Rows<RowBlocks32<Q8_0>>);
  set(DType::Q4_0, Rows<RowBlocks32<Q4_0>>);
  set(DType::Q4_1, Rows<RowBlocks32<Q4_1>>);
  set(DType::Q4_K, Rows<RowK<false>>);
  set(DType::Q5_K, Rows<RowK<true>>);
  set(DType::Q6_K, Rows<RowQ6K>);
  set(DType::Q8_GROUPED, RowsGrouped<RowQ8Grouped, kGroupMultiple>);
  WiderRows(k);
  return k;
}
