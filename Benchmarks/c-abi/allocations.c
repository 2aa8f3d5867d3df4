/*
 * Heap allocations per call of the C ABI's hot paths, counted by the malloc_count.c preload:
 *
 *   cc -O2 -shared -fPIC -o malloc_count.so malloc_count.c
 *   cc -O2 -o allocations allocations.c $(pkg-config --cflags --libs arrayqueues) -ldl
 *   LD_PRELOAD=./malloc_count.so ./allocations
 */
#define _GNU_SOURCE
#include <arrayqueues.h>
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
int main(void){ long (*count)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "malloc_count_total");
 if (!count) { fprintf(stderr, "run with LD_PRELOAD=./malloc_count.so\n"); return 1; }
 aq_queue*q; char n[64]; snprintf(n,64,"cnt-%d",getpid()); aq_queue_create(n,1<<20,NULL,&q);
 int64_t s[1]={64}; char src[64]={0}, dst[64]; aq_record_info info; const void *p; aq_borrow *b; void *d; aq_loan *l;
 for(int i=0;i<100;i++){ aq_queue_put(q,3,1,s,src,64,0,0,0,0); aq_queue_get(q,dst,64,&info,0);}
 long a=count(); for(int i=0;i<1000;i++) aq_queue_put(q,3,1,s,src,64,0,0,0,0); long b1=count();
 for(int i=0;i<1000;i++) aq_queue_get(q,dst,64,&info,0); long c=count();
 for(int i=0;i<1000;i++){ aq_queue_loan(q,3,1,s,0,0,0,0,&d,NULL,&l); aq_loan_commit(l);} long e=count();
 for(int i=0;i<1000;i++){ aq_queue_borrow(q,0,&info,&p,&b); aq_borrow_release(b);} long f=count();
 printf("allocations per call: put %.2f get %.2f loan+commit %.2f borrow+release %.2f\n",(b1-a)/1000.0,(c-b1)/1000.0,(e-c)/1000.0,(f-e)/1000.0);
 aq_queue_close(q); aq_queue_remove(n); return 0;}
