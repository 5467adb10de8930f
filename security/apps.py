from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = "Security"

    def ready(self):
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from security import middleware, signals, working_site

        user_logged_in.connect(signals.logged_in, dispatch_uid="security.log.logged_in")
        user_logged_out.connect(signals.logged_out, dispatch_uid="security.log.logged_out")
        user_login_failed.connect(signals.login_failed, dispatch_uid="security.log.login_failed")
        user_locked_out.connect(signals.locked_out, dispatch_uid="security.log.locked_out")
        user_logged_in.connect(working_site.on_login, dispatch_uid="security.working_site")
        user_logged_in.connect(middleware.stamp_on_login, dispatch_uid="security.idle_stamp")
