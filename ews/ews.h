/* ews/: the Exchange Web Services client library (issue 3). */
#ifndef CP_EWS_H
#define CP_EWS_H
#endif
