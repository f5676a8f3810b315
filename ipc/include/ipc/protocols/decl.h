/* The X-macro machinery that turns one declaration per message into its
 * params and reply structs, type constant, descriptor, typed writer / reader /
 * free / build / format / send helpers and message-map trampoline. Protocol
 * headers (ipc/protocols/<P>.h) use it; docs/protocols.md explains it.
 *
 * A protocol header declares, for protocol P with class number CLS:
 *
 *   #define IPC_PROTOCOL_P(MSG) \
 *       MSG(P, Name, id, ROUTE, SYNC, DIR) ...
 *           ROUTE: CONTROL | ROUTED
 *           SYNC:  ASYNC | SYNC | ASYNC_RETURNS
 *           DIR:   PARENT_TO_CHILD | CHILD_TO_PARENT | BOTH
 *   #define IPC_PARAMS_P_Name(X, T) X(T, KIND, field, extra) ...
 *   #define IPC_REPLY_P_Name(X, T)  X(T, KIND, field, extra) ...   (SYNC and
 *                                            ASYNC_RETURNS messages only)
 *   IPC_DECLARE_PROTOCOL(P, CLS)
 *
 * KIND is one of BOOL INT32 UINT32 INT64 UINT64 DOUBLE STRING BYTES FD PROTO;
 * `extra` is 0, except for PROTO where it names a struct declared in
 * ipc/protocols/structs.h (IPC_STRUCT_<extra>_T / _D). The (X, T) pair threads
 * the struct type through the list so that descriptors can use offsetof. */
#ifndef IPC_PROTOCOLS_DECL_H
#define IPC_PROTOCOLS_DECL_H

#include "ipc/errors.h"
#include "ipc/msg.h"
#include "ipc/msgmap.h"
#include "ipc/protocol.h"
#include "ipc/protocols/structs.h"
#include "ipc/proxy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The type constant as an int enumerator: C11 enumerators are ints, and
 * classes >= 0x8000 (the IPC protocol's 0xFFFF) do not fit as positives. The
 * value converted to uint32_t is exactly class << 16 | id, so it compares
 * equal to ipc_msg_type() and works as a case label on a uint32_t switch. */
#define IPC__TYPE_INT(cls, id)                                                                     \
    ((cls) >= 0x8000 ? ((int)(cls)-0x10000) * 0x10000 + (int)(id) : (int)(cls)*0x10000 + (int)(id))

/* The type of message M of protocol P as a uint32_t constant expression. Use it
 * to compare with ipc_msg_type(): comparing a uint32_t with the int enumerator
 * of a class >= 0x8000 (IPC_MSG_IPC_Hello) trips -Wsign-compare. */
#define IPC_MSGTYPE(P, M) ((uint32_t)IPC_MSG_##P##_##M)

/* ---- C types of the kinds ---- */
#define IPC__CTYPE_BOOL(x)   bool
#define IPC__CTYPE_INT32(x)  int32_t
#define IPC__CTYPE_UINT32(x) uint32_t
#define IPC__CTYPE_INT64(x)  int64_t
#define IPC__CTYPE_UINT64(x) uint64_t
#define IPC__CTYPE_DOUBLE(x) double
#define IPC__CTYPE_STRING(x) char *
#define IPC__CTYPE_BYTES(x)  ipc_bytes
#define IPC__CTYPE_FD(x)     int
#define IPC__CTYPE_PROTO(x)  IPC_STRUCT_##x##_T *

#define IPC__FIELD(T, K, name, x) IPC__CTYPE_##K(x) name;
#define IPC__NO_PARAMS(X, T)

/* Asynchronous messages have no reply list; the others name theirs. */
#define IPC__REPLIES_ASYNC(P, M)         IPC__NO_PARAMS
#define IPC__REPLIES_SYNC(P, M)          IPC_REPLY_##P##_##M
#define IPC__REPLIES_ASYNC_RETURNS(P, M) IPC_REPLY_##P##_##M

/* ---- send helpers, one shape per sync kind ---- */

/* ASYNC: builds and hands the message to the proxy (which owns it then). */
#define IPC__SEND_ASYNC(P, M)                                                                      \
    static inline int ipc_##P##_##M##_send(ipc_proxy *proxy, int32_t routing_id,                   \
                                           const ipc_##P##_##M *in)                                \
    {                                                                                              \
        ipc_msg *m_;                                                                               \
        int rc_ = ipc_msg_build(&m_, &ipc_##P##_##M##_desc, routing_id, in);                       \
        return rc_ ? rc_ : ipc_proxy_send(proxy, m_);                                              \
    }

/* ASYNC_RETURNS: the caller's actor layer owns transaction ids and matches
 * the reply to txn_id; ids are never 0 and keep IPC_SYNC_TXN_BIT clear (that
 * bit marks the proxy's synchronous requests): IPC_E_BAD_FLAGS otherwise. */
#define IPC__SEND_ASYNC_RETURNS(P, M)                                                              \
    static inline int ipc_##P##_##M##_send(ipc_proxy *proxy, int32_t routing_id, uint32_t txn_id,  \
                                           const ipc_##P##_##M *in)                                \
    {                                                                                              \
        ipc_msg *m_;                                                                               \
        if (txn_id == 0 || (txn_id & IPC_SYNC_TXN_BIT))                                            \
            return IPC_E_BAD_FLAGS;                                                                \
        int rc_ = ipc_msg_build(&m_, &ipc_##P##_##M##_desc, routing_id, in);                       \
        if (rc_)                                                                                   \
            return rc_;                                                                            \
        ipc_msg_set_txn_id(m_, txn_id);                                                            \
        return ipc_proxy_send(proxy, m_);                                                          \
    }

/* SYNC: blocks for the reply and decodes it into *out (the caller frees it
 * with _reply_free). IPC_E_REPLY_ERROR when the peer's handler failed. */
#define IPC__SEND_SYNC(P, M)                                                                       \
    static inline int ipc_##P##_##M##_send(ipc_proxy *proxy, int32_t routing_id,                   \
                                           const ipc_##P##_##M *in, ipc_##P##_##M##_reply *out,    \
                                           int timeout_ms)                                         \
    {                                                                                              \
        ipc_msg *m_, *r_ = NULL;                                                                   \
        int rc_ = ipc_msg_build(&m_, &ipc_##P##_##M##_desc, routing_id, in);                       \
        if (rc_)                                                                                   \
            return rc_;                                                                            \
        rc_ = ipc_proxy_send_sync(proxy, m_, &r_, timeout_ms);                                     \
        if (rc_ == 0)                                                                              \
            rc_ = ipc_params_read(&ipc_##P##_##M##_desc, true, r_, out);                           \
        ipc_msg_free(r_);                                                                          \
        return rc_;                                                                                \
    }

/* ---- everything a header declares for one message ---- */
#define IPC__DECL_MSG(P, M, ID, R, S, D)                                                           \
    enum { IPC_MSG_##P##_##M = IPC__TYPE_INT(IPC_CLASS_##P, ID), ipc__id_##P##_##ID = ID };        \
    _Static_assert(IPC_##S != IPC_SYNC || IPC_DIR_##D == IPC_DIR_CHILD_TO_PARENT,                  \
                   #P "::" #M ": synchronous messages go from child to parent only");              \
    _Static_assert((ID) > 0 && (ID) <= 0xffff, #P "::" #M ": id must be 1..0xffff");               \
    typedef struct ipc_##P##_##M {                                                                 \
        IPC_PARAMS_##P##_##M(IPC__FIELD, ipc_##P##_##M) char ipc__empty;                           \
    } ipc_##P##_##M;                                                                               \
    typedef struct ipc_##P##_##M##_reply {                                                         \
        IPC__REPLIES_##S(P, M)(IPC__FIELD, ipc_##P##_##M##_reply) char ipc__empty;                 \
    } ipc_##P##_##M##_reply;                                                                       \
    extern const ipc_msg_desc ipc_##P##_##M##_desc;                                                \
    typedef int ipc_##P##_##M##_handler(void *ctx, ipc_msg *msg, ipc_##P##_##M *in,                \
                                        ipc_##P##_##M##_reply *out);                               \
    static inline int ipc_##P##_##M##_write(ipc_msg *msg, const ipc_##P##_##M *in)                 \
    {                                                                                              \
        return ipc_params_write(&ipc_##P##_##M##_desc, false, msg, in);                            \
    }                                                                                              \
    static inline int ipc_##P##_##M##_read(ipc_msg *msg, ipc_##P##_##M *out)                       \
    {                                                                                              \
        return ipc_params_read(&ipc_##P##_##M##_desc, false, msg, out);                            \
    }                                                                                              \
    static inline void ipc_##P##_##M##_free(ipc_##P##_##M *p)                                      \
    {                                                                                              \
        ipc_params_free(&ipc_##P##_##M##_desc, false, p);                                          \
    }                                                                                              \
    static inline int ipc_##P##_##M##_format(const ipc_##P##_##M *p, char *buf, size_t len)        \
    {                                                                                              \
        return ipc_params_format(&ipc_##P##_##M##_desc, false, p, buf, len);                       \
    }                                                                                              \
    static inline int ipc_##P##_##M##_build(ipc_msg **out, int32_t routing_id,                     \
                                            const ipc_##P##_##M *in)                               \
    {                                                                                              \
        return ipc_msg_build(out, &ipc_##P##_##M##_desc, routing_id, in);                          \
    }                                                                                              \
    static inline int ipc_##P##_##M##_reply_write(ipc_msg *msg, const ipc_##P##_##M##_reply *in)   \
    {                                                                                              \
        return ipc_params_write(&ipc_##P##_##M##_desc, true, msg, in);                             \
    }                                                                                              \
    static inline int ipc_##P##_##M##_reply_read(ipc_msg *msg, ipc_##P##_##M##_reply *out)         \
    {                                                                                              \
        return ipc_params_read(&ipc_##P##_##M##_desc, true, msg, out);                             \
    }                                                                                              \
    static inline void ipc_##P##_##M##_reply_free(ipc_##P##_##M##_reply *p)                        \
    {                                                                                              \
        ipc_params_free(&ipc_##P##_##M##_desc, true, p);                                           \
    }                                                                                              \
    static inline int ipc_##P##_##M##_reply_build(ipc_msg **out, const ipc_msg *request,           \
                                                  const ipc_##P##_##M##_reply *in)                 \
    {                                                                                              \
        return ipc_msg_build_reply(out, &ipc_##P##_##M##_desc, request, in);                       \
    }                                                                                              \
    static inline int ipc__##P##_##M##_call(ipc_msgmap_fn fn, void *ctx, ipc_msg *msg, void *in,   \
                                            void *out)                                             \
    {                                                                                              \
        return ((ipc_##P##_##M##_handler *)fn)(ctx, msg, in, out);                                 \
    }                                                                                              \
    IPC__SEND_##S(P, M)

/* In a protocol header, after its tables. */
#define IPC_DECLARE_PROTOCOL(P, CLS)                                                               \
    enum { IPC_CLASS_##P = (CLS) };                                                                \
    _Static_assert((CLS) > 0 && (CLS) <= 0xffff, #P ": class must be 1..0xffff");                  \
    IPC_PROTOCOL_##P(IPC__DECL_MSG) extern const ipc_protocol_desc ipc_##P##_protocol;

/* ---- definitions: in exactly one .c file (ipc/protocols.c) ---- */
#define IPC__PROTODESC_BOOL(x)   NULL
#define IPC__PROTODESC_INT32(x)  NULL
#define IPC__PROTODESC_UINT32(x) NULL
#define IPC__PROTODESC_INT64(x)  NULL
#define IPC__PROTODESC_UINT64(x) NULL
#define IPC__PROTODESC_DOUBLE(x) NULL
#define IPC__PROTODESC_STRING(x) NULL
#define IPC__PROTODESC_BYTES(x)  NULL
#define IPC__PROTODESC_FD(x)     NULL
#define IPC__PROTODESC_PROTO(x)  (&IPC_STRUCT_##x##_D)

#define IPC__PDESC(T, K, name, x) {#name, IPC_PK_##K, offsetof(T, name), IPC__PROTODESC_##K(x)},
/* Arrays end in a sentinel so that an empty list is still valid C. */
#define IPC__PDESC_END                                                                             \
    {                                                                                              \
        NULL, IPC_PK_BOOL, 0, NULL                                                                 \
    }
#define IPC__NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define IPC__DEF_MSG(P, M, ID, R, S, D)                                                            \
    static const ipc_param_desc ipc__##P##_##M##_params[] = {                                      \
        IPC_PARAMS_##P##_##M(IPC__PDESC, ipc_##P##_##M) IPC__PDESC_END};                           \
    static const ipc_param_desc ipc__##P##_##M##_replies[] = {                                     \
        IPC__REPLIES_##S(P, M)(IPC__PDESC, ipc_##P##_##M##_reply) IPC__PDESC_END};                 \
    const ipc_msg_desc ipc_##P##_##M##_desc = {                                                    \
        #P,                                                                                        \
        #M,                                                                                        \
        #P "::Msg_" #M,                                                                            \
        IPC_CLASS_##P,                                                                             \
        ID,                                                                                        \
        IPC_MSG_TYPE(IPC_CLASS_##P, ID),                                                           \
        IPC_ROUTE_##R,                                                                             \
        IPC_##S,                                                                                   \
        IPC_DIR_##D,                                                                               \
        IPC__NELEM(ipc__##P##_##M##_params) - 1,                                                   \
        ipc__##P##_##M##_params,                                                                   \
        sizeof(ipc_##P##_##M),                                                                     \
        IPC__NELEM(ipc__##P##_##M##_replies) - 1,                                                  \
        ipc__##P##_##M##_replies,                                                                  \
        sizeof(ipc_##P##_##M##_reply),                                                             \
    };

#define IPC__DEF_MSGPTR(P, M, ID, R, S, D) &ipc_##P##_##M##_desc,

#define IPC_DEFINE_PROTOCOL(P)                                                                     \
    IPC_PROTOCOL_##P(IPC__DEF_MSG) static const ipc_msg_desc *const ipc__##P##_msgs[] = {          \
        IPC_PROTOCOL_##P(IPC__DEF_MSGPTR)};                                                        \
    const ipc_protocol_desc ipc_##P##_protocol = {#P, IPC_CLASS_##P, IPC__NELEM(ipc__##P##_msgs),  \
                                                  ipc__##P##_msgs};

#endif
