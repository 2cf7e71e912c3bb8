// SPDX-License-Identifier: GPL-2.0
/*
 * Test scaffolding for the Pi in a box, never part of the product: a /proc/device-tree
 * symlink to a folder the box fills with a Raspberry Pi's device-tree entries
 * (system/linux,revision and model), so gpiozero's LGPIOFactory identifies a Pi as on
 * the real board. A link in procfs's own tree appears in every procfs instance, including
 * the one systemd mounts for a unit with ProtectProc=, and is hidden by ProcSubset=pid as
 * a Pi's is; a bind mount over /proc/cpuinfo would reach neither.
 */
#include <linux/module.h>
#include <linux/proc_fs.h>

static char *target = "/run/pibox/device-tree";
module_param(target, charp, 0444);
MODULE_PARM_DESC(target, "the folder /proc/device-tree points to");

static struct proc_dir_entry *link;

static int __init pibox_dt_init(void)
{
	link = proc_symlink("device-tree", NULL, target);
	return link ? 0 : -ENOMEM;
}

static void __exit pibox_dt_exit(void)
{
	proc_remove(link);
}

module_init(pibox_dt_init);
module_exit(pibox_dt_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Pi in a box: /proc/device-tree for gpiozero (test scaffolding)");
