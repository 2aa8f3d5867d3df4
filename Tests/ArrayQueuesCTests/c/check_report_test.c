/*
 * Fails five checks on purpose, so that CheckReportTests can read how check.h reports each:
 * the thread's last error is named as the failed check's own only when that check's call set
 * it; one left by an earlier call is labelled as such. Exits 1 (its checks failed).
 */
#include "check.h"

int main(void) {
    size_t nbytes = 0;
    CHECK(nbytes == 1);                                           /* no call has failed yet */
    EXPECT(aq_array_nbytes(0, 0, NULL, &nbytes), AQ_EINVALID_SHAPE); /* fails itself: dtype 0 */
    EXPECT(aq_dtype_itemsize(AQ_DTYPE_UINT16), 4);                /* succeeds: the dtype error stays */
    CHECK(nbytes == 1);                                           /* no call: the dtype error stays */
    int64_t shape[1] = {-1};
    CHECK(aq_array_nbytes(AQ_DTYPE_UINT8, 1, shape, &nbytes) == AQ_OK); /* fails in the condition */
    return CHECK_SUMMARY("check_report_test");
}
