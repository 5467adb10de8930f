from django.contrib.auth.backends import ModelBackend

from security import policy


class PolicyBackend(ModelBackend):
    """Sign-in by username or email (Patron.objects.get_by_natural_key); every permission
    question goes to security.policy, so templates, the admin and views all agree with it."""

    def get_user(self, user_id):
        users = self._user_model().objects.select_related("security_group")
        try:
            user = users.get(pk=user_id)  # get(), not first(): no ORDER BY on every request
        except users.model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None

    def has_perm(self, user_obj, perm, obj=None):
        return policy.can(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):
        return any(perm.startswith(f"{app_label}.") for perm in self.get_all_permissions(user_obj))

    def get_all_permissions(self, user_obj, obj=None):
        return set(policy.permissions_of(user_obj)) if obj is None else set()

    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        return self.get_all_permissions(user_obj, obj)

    @staticmethod
    def _user_model():
        from django.contrib.auth import get_user_model

        return get_user_model()
