#ifndef APKIT_CCURLSHIM_H
#define APKIT_CCURLSHIM_H
#include <curl/curl.h>
/* Non-variadic wrappers around curl_easy_setopt / curl_easy_getinfo, which Swift cannot call. */
CURLcode apkit_curl_setopt_long(CURL *h, CURLoption o, long v);
CURLcode apkit_curl_setopt_ptr(CURL *h, CURLoption o, const void *v);
CURLcode apkit_curl_setopt_str(CURL *h, CURLoption o, const char *v);
CURLcode apkit_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v);
CURLcode apkit_curl_getinfo_long(CURL *h, CURLINFO i, long *v);
CURLcode apkit_curl_getinfo_double(CURL *h, CURLINFO i, double *v);
/* Data callbacks (CURLOPT_WRITEFUNCTION, CURLOPT_READFUNCTION, CURLOPT_HEADERFUNCTION) share one shape. */
typedef size_t (*apkit_curl_data_fn)(char *buffer, size_t size, size_t nitems, void *userdata);
CURLcode apkit_curl_setopt_datafn(CURL *h, CURLoption o, apkit_curl_data_fn fn);
/* CURLOPT_XFERINFOFUNCTION: return non-zero to abort the transfer. */
typedef int (*apkit_curl_xferinfo_fn)(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
CURLcode apkit_curl_setopt_xferinfofn(CURL *h, apkit_curl_xferinfo_fn fn);
#endif
