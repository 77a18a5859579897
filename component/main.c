#include <stdio.h>

int
main(void)
{
    printf("calpresence %s\n", CP_VERSION);
    return 0;
}
