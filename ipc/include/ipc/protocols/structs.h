/* Struct params: the protobuf-c messages a declaration may name as PROTO, each
 * as IPC_STRUCT_<Name>_T (the C type) and IPC_STRUCT_<Name>_D (its
 * descriptor). The messages are defined in ipc/proto/ipcrig.proto. */
#ifndef IPC_PROTOCOLS_STRUCTS_H
#define IPC_PROTOCOLS_STRUCTS_H

#include "ipc/proto/ipcrig.pb-c.h"

#define IPC_STRUCT_CrashReporterInit_T Ipcrig__CrashReporterInit
#define IPC_STRUCT_CrashReporterInit_D ipcrig__crash_reporter_init__descriptor

#define IPC_STRUCT_EndpointInfo_T Ipcrig__EndpointInfo
#define IPC_STRUCT_EndpointInfo_D ipcrig__endpoint_info__descriptor

#define IPC_STRUCT_TestRecord_T Ipcrig__TestRecord
#define IPC_STRUCT_TestRecord_D ipcrig__test_record__descriptor

#endif
