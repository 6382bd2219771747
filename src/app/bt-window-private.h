/* bt-window-private.h: BtWindow's instance struct, shared by bt-window.c (widgets, state)
 * and bt-window-actions.c (menu and keyboard actions). */
#pragma once

#include "bt-window.h"
#include "bt-data-page.h"
#include "bt-import.h"
#include "bt-evaluate-page.h"
#include "bt-model-page.h"
#include "bt-test-page.h"
#include "bt-train-page.h"

G_BEGIN_DECLS

struct _BtWindow
{
  GtkApplicationWindow parent_instance;

  /* Template widgets */
  GtkStack          *main_stack;
  GtkStack          *page_stack;
  GtkWidget         *page_switcher;
  GtkLabel          *project_label;
  GtkWidget         *recent_box;
  GtkListBox        *recent_list;
  GtkRevealer       *notification_revealer;
  GtkLabel          *notification_label;
  BtDataPage        *data_page;
  BtModelPage       *model_page;
  BtTrainPage       *train_page;
  BtEvaluatePage    *evaluate_page;
  BtTestPage        *test_page;

  /* Owned */
  BtProject         *project;
  GSettings         *settings;
  GCancellable      *open_cancellable;
  guint              notification_timeout;
};

void _bt_window_class_actions_init (GtkWidgetClass *widget_class);
void _bt_window_update_actions     (BtWindow       *self);
void _bt_window_dnd_init           (BtWindow       *self);
/* Puts dir first in the recent projects (kept in GSettings). */
void _bt_window_add_recent         (BtWindow       *self,
                                    const char     *dir);
void _bt_window_remove_recent      (BtWindow       *self,
                                    const char     *dir);

G_END_DECLS
