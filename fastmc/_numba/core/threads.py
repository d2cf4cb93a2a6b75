"""What the chain driver's threads share while a run goes on. Twin: csrc/include/fastmc/core/threads.hpp.

``publish`` stores a chain's progress (a field of its CHAIN_INFO record) and ``interrupted`` reads
the run's stop flag, each as one relaxed atomic access: without it the compiler could keep the
counter in a register until the loop ends, or read the flag once before it starts.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _field_store(ordering):
    def store(typingctx, rec_ty, name_ty, value_ty):
        if not isinstance(rec_ty, types.Record) or not isinstance(name_ty, types.StringLiteral):
            return None
        name = name_ty.literal_value
        field_ty = rec_ty.typeof(name)

        def codegen(context, builder, sig, args):
            rec, _, value = args
            dtype = context.get_data_type(field_ty)
            ptr = cgutils.get_record_member(builder, rec, rec_ty.offset(name), dtype)
            v = context.cast(builder, value, sig.args[2], field_ty)
            builder.store_atomic(v, ptr, ordering=ordering, align=field_ty.bitwidth // 8)
            return context.get_dummy_value()

        return types.none(rec_ty, name_ty, value_ty), codegen

    return store


#: ``publish(rec, "name", value)``: ``rec.name = value`` as a relaxed atomic store (progress counters).
publish = intrinsic(prefer_literal=True)(_field_store("monotonic"))
#: The same with release order: every store before it (a saved chain state) is visible first.
publish_release = intrinsic(prefer_literal=True)(_field_store("release"))


@intrinsic
def interrupted(typingctx, flag_ty):
    """``flag[0] != 0`` for the run's int64 stop flag (1,), as a relaxed atomic load."""
    if not (isinstance(flag_ty, types.Array) and flag_ty.dtype == types.int64):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(flag_ty)(context, builder, args[0])
        v = builder.load_atomic(ary.data, ordering="monotonic", align=8)
        return builder.icmp_signed("!=", v, ir.Constant(v.type, 0))

    return types.boolean(flag_ty), codegen
