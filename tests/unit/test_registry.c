/* Unit tests for the protocol registry: lookups by type and name, message
 * type names (the Chromium seed's 0x410001 example), unknown types, and the
 * registry as the frame decoder's type filter. */
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/frame.h"
#include "ipc/protocols/all.h"

#include <stdio.h>
#include <string.h>

START_TEST(registry_seed_example_names_init_crash_reporter)
{
    char buf[IPC_MSG_NAME_MAX];
    ck_assert_str_eq(ipc_msg_type_name(0x410001, 0, buf, sizeof buf),
                     "PDemo::Msg_InitCrashReporter");
    ck_assert_uint_eq((uint32_t)IPC_MSG_PDemo_InitCrashReporter, 0x410001u);
    const ipc_msg_desc *d = ipc_msgdesc_lookup(0x410001);
    ck_assert_ptr_eq(d, &ipc_PDemo_InitCrashReporter_desc);
    ck_assert_uint_eq(d->cls, 0x41);
    ck_assert_uint_eq(d->id, 1);
    ck_assert_str_eq(d->protocol, "PDemo");
    ck_assert_str_eq(d->name, "InitCrashReporter");
}
END_TEST

START_TEST(registry_reply_names_use_reply_prefix)
{
    char buf[IPC_MSG_NAME_MAX];
    ck_assert_str_eq(
        ipc_msg_type_name(IPC_MSG_PDemoHelpline_GiveAssistance, IPC_MSG_REPLY, buf, sizeof buf),
        "PDemoHelpline::Reply_GiveAssistance");
    ck_assert_str_eq(ipc_msg_type_name(IPC_MSG_PTest_SyncEcho, IPC_MSG_REPLY | IPC_MSG_REPLY_ERROR,
                                       buf, sizeof buf),
                     "PTest::Reply_SyncEcho");
    ck_assert_str_eq(ipc_msg_type_name(IPC_MSG_PTest_SyncEcho, IPC_MSG_SYNC, buf, sizeof buf),
                     "PTest::Msg_SyncEcho");
}
END_TEST

START_TEST(registry_unknown_types_are_decoded)
{
    char buf[IPC_MSG_NAME_MAX];
    ck_assert_str_eq(ipc_msg_type_name(0x00410099, 0, buf, sizeof buf),
                     "0x00410099 (class 0x41 PDemo, id 0x99: unknown)");
    ck_assert_str_eq(ipc_msg_type_name(0x007f0001, 0, buf, sizeof buf),
                     "0x007f0001 (class 0x7f unknown, id 0x1)");
    ck_assert_str_eq(ipc_msg_type_name(0xffff0063, IPC_MSG_REPLY, buf, sizeof buf),
                     "0xffff0063 (class 0xffff IPC, id 0x63: unknown reply)");
    ck_assert_str_eq(ipc_msg_type_name(0, 0, buf, sizeof buf),
                     "0x00000000 (class 0x0 unknown, id 0x0)");
    ck_assert_ptr_null(ipc_msgdesc_lookup(0x00410099));
    ck_assert_ptr_null(ipc_msgdesc_lookup(0x007f0001));
    ck_assert_ptr_null(ipc_msgdesc_lookup(0x00410000)); /* id 0 is never declared */
    ck_assert_int_eq(ipc_msg_type_known(0x00410099, NULL), 0);
    ck_assert_int_ne(ipc_msg_type_known(0x00410001, NULL), 0);
}
END_TEST

START_TEST(registry_name_is_cut_to_the_buffer)
{
    char buf[8];
    memset(buf, 'x', sizeof buf);
    ck_assert_ptr_eq(ipc_msg_type_name(0x410001, 0, buf, sizeof buf), buf);
    ck_assert_str_eq(buf, "PDemo::");
    ck_assert_ptr_null(ipc_msg_type_name(0x410001, 0, NULL, 0));
}
END_TEST

/* Every message is found by its type and by each spelling of its name. */
START_TEST(registry_every_message_round_trips)
{
    size_t total = 0;
    for (const ipc_protocol_desc *const *pp = ipc_protocols(); *pp; pp++) {
        const ipc_protocol_desc *p = *pp;
        ck_assert_ptr_eq(ipc_protocol_find(p->name), p);
        for (size_t i = 0; i < p->nmsgs; i++) {
            const ipc_msg_desc *d = p->msgs[i];
            char name[IPC_MSG_NAME_MAX], short_name[IPC_MSG_NAME_MAX];
            total++;
            ck_assert_ptr_eq(ipc_msgdesc_lookup(d->type), d);
            ck_assert_ptr_eq(ipc_protocol_msg(p, d->id), d);
            ck_assert_str_eq(ipc_msg_type_name(d->type, 0, name, sizeof name), d->full_name);
            ck_assert_ptr_eq(ipc_msgdesc_find(d->full_name), d);
            snprintf(short_name, sizeof short_name, "%s::%s", d->protocol, d->name);
            ck_assert_ptr_eq(ipc_msgdesc_find(short_name), d);
            /* A bare name resolves when no other protocol uses it. */
            size_t uses = 0;
            for (const ipc_protocol_desc *const *q = ipc_protocols(); *q; q++)
                for (size_t k = 0; k < (*q)->nmsgs; k++)
                    uses += strcmp((*q)->msgs[k]->name, d->name) == 0;
            ck_assert_ptr_eq(ipc_msgdesc_find(d->name), uses == 1 ? d : NULL);
        }
    }
    ck_assert_uint_eq(total, 5 + 3 + 2 + 6 + 2 + 6);
}
END_TEST

START_TEST(registry_protocols_have_fixed_classes_in_order)
{
    static const struct {
        const char *name;
        unsigned cls;
        size_t nmsgs;
    } want[] = {{"PDemo", 0x41, 3},    {"PDemoHelpline", 0x42, 2}, {"PContent", 0x43, 6},
                {"PBrowser", 0x44, 2}, {"PTest", 0x7e, 6},         {"IPC", 0xffff, 5}};
    const ipc_protocol_desc *const *pp = ipc_protocols();
    size_t n = 0;
    for (; pp[n]; n++) {
        ck_assert_uint_lt(n, sizeof want / sizeof want[0]);
        ck_assert_str_eq(pp[n]->name, want[n].name);
        ck_assert_uint_eq(pp[n]->cls, want[n].cls);
        ck_assert_uint_eq(pp[n]->nmsgs, want[n].nmsgs);
        if (n)
            ck_assert_uint_lt(pp[n - 1]->cls, pp[n]->cls); /* the lookup's binary search */
    }
    ck_assert_uint_eq(n, sizeof want / sizeof want[0]);
    ck_assert_ptr_null(ipc_protocol_find("PNope"));
    ck_assert_ptr_null(ipc_protocol_find(NULL));
}
END_TEST

START_TEST(registry_find_rejects_bad_names)
{
    ck_assert_ptr_null(ipc_msgdesc_find(NULL));
    ck_assert_ptr_null(ipc_msgdesc_find(""));
    ck_assert_ptr_null(ipc_msgdesc_find("Nope"));
    ck_assert_ptr_null(ipc_msgdesc_find("PDemo::Nope"));
    ck_assert_ptr_null(ipc_msgdesc_find("PNope::Hello"));
    ck_assert_ptr_null(ipc_msgdesc_find("PDemo::"));
    ck_assert_ptr_null(ipc_msgdesc_find("::InitCrashReporter"));
    ck_assert_ptr_null(ipc_msgdesc_find("PDemo::Reply_EmptyMessageQueue"));
    ck_assert_ptr_null(ipc_msgdesc_find("PDemo::InitCrashReporterX"));
    ck_assert_ptr_null(ipc_msgdesc_find("PDem::InitCrashReporter"));
    ck_assert_ptr_eq(ipc_msgdesc_find("IPC::Msg_Hello"), &ipc_IPC_Hello_desc);
}
END_TEST

/* The generated constants are usable where C wants integer constants. */
static const char *classify(uint32_t type)
{
    switch (type) {
    case IPC_MSG_IPC_Hello:
        return "hello";
    case IPC_MSG_IPC_Goodbye:
        return "goodbye";
    case IPC_MSG_PDemo_InitCrashReporter:
        return "init";
    default:
        return "other";
    }
}

START_TEST(registry_constants_match_msg_h_and_switch)
{
    ck_assert_uint_eq((uint32_t)IPC_MSG_IPC_Hello, IPC_MSG_HELLO);
    ck_assert_uint_eq((uint32_t)IPC_MSG_IPC_Goodbye, IPC_MSG_GOODBYE);
    ck_assert_uint_eq((uint32_t)IPC_MSG_IPC_Delete, 0xffff0004u);
    ck_assert_str_eq(classify(IPC_MSG_HELLO), "hello");
    ck_assert_str_eq(classify(0xffff0002u), "goodbye");
    ck_assert_str_eq(classify(0x410001u), "init");
    ck_assert_str_eq(classify(0x410002u), "other");
    uint32_t t = IPC_MSG_IPC_Constructor;
    ck_assert(t == IPC_MSGTYPE(IPC, Constructor));
    ck_assert(IPC_MSGTYPE(PDemo, InitCrashReporter) == 0x410001u);
    ck_assert_uint_eq(IPC_CLASS_PTest, 0x7e);
}
END_TEST

START_TEST(registry_sync_messages_go_child_to_parent)
{
    for (const ipc_protocol_desc *const *pp = ipc_protocols(); *pp; pp++)
        for (size_t i = 0; i < (*pp)->nmsgs; i++) {
            const ipc_msg_desc *d = (*pp)->msgs[i];
            if (d->sync == IPC_SYNC)
                ck_assert_int_eq(d->dir, IPC_DIR_CHILD_TO_PARENT);
            if (d->sync == IPC_ASYNC)
                ck_assert_uint_eq(d->nreplies, 0);
        }
    ck_assert_int_eq(ipc_PBrowser_LoadURL_desc.route, IPC_ROUTE_ROUTED);
    ck_assert_int_eq(ipc_PTest_RoutedPing_desc.route, IPC_ROUTE_ROUTED);
    ck_assert_int_eq(ipc_PContent_LaunchDemoProcess_desc.sync, IPC_ASYNC_RETURNS);
    ck_assert_int_eq(ipc_PTest_SyncEcho_desc.sync, IPC_SYNC);
}
END_TEST

static void put_header(uint8_t *b, uint32_t type)
{
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, type, 0);
    ck_assert_ptr_nonnull(m);
    ipc_msg_encode_header(m, b);
    ipc_msg_free(m);
}

START_TEST(registry_filters_unknown_types_in_the_frame_decoder)
{
    ipc_frame_limits lim;
    ipc_frame_limits_default(&lim);
    lim.type_known = ipc_msg_type_known;
    ipc_frame_decoder *dec;
    ck_assert_int_eq(ipc_frame_decoder_new(&dec, &lim), 0);
    uint8_t frames[2 * IPC_MSG_HEADER_SIZE];
    put_header(frames, IPC_MSG_PDemoHelpline_RequestAssistance);
    put_header(frames + IPC_MSG_HEADER_SIZE, 0x00420063);
    ipc_frame_decoder_feed(dec, frames, sizeof frames);
    ipc_msg *m = NULL;
    ck_assert_int_eq(ipc_frame_decoder_next(dec, &m), 1);
    ck_assert_uint_eq(ipc_msg_type(m), (uint32_t)IPC_MSG_PDemoHelpline_RequestAssistance);
    ipc_msg_free(m);
    ck_assert_int_eq(ipc_frame_decoder_next(dec, &m), IPC_E_UNKNOWN_TYPE);
    ck_assert_uint_eq(ipc_frame_decoder_error_type(dec), 0x00420063);
    ipc_frame_decoder_free(dec);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("registry");
    RIG_TCASE(s, "seed_example", registry_seed_example_names_init_crash_reporter, 10);
    RIG_TCASE(s, "reply_names", registry_reply_names_use_reply_prefix, 10);
    RIG_TCASE(s, "unknown_types", registry_unknown_types_are_decoded, 10);
    RIG_TCASE(s, "name_cut", registry_name_is_cut_to_the_buffer, 10);
    RIG_TCASE(s, "every_message", registry_every_message_round_trips, 10);
    RIG_TCASE(s, "classes", registry_protocols_have_fixed_classes_in_order, 10);
    RIG_TCASE(s, "bad_names", registry_find_rejects_bad_names, 10);
    RIG_TCASE(s, "constants", registry_constants_match_msg_h_and_switch, 10);
    RIG_TCASE(s, "sync_rules", registry_sync_messages_go_child_to_parent, 10);
    RIG_TCASE(s, "frame_filter", registry_filters_unknown_types_in_the_frame_decoder, 10);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, NULL);
}
